"""The ``xdsl`` command.  Only ``compile`` and ``train`` import torch (inside the command)."""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .diagnostics import SpecError
from .files import DEFAULT_MAX_SPEC_BYTES, SpecFileError, size, spec_size_limit
from .graph import Limits
from .params import ParamError
from .parser import DEFAULT_MAX_STATEMENTS, statement_limit
from .plugins import PluginError

EXIT_INVALID_SPEC = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        out[name.strip()] = value
    return out


def _memory(text: str) -> int:
    units = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
             "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12,
             "tib": 2**40}
    number = text.strip().rstrip("BbIiKkMmGgTt")
    unit = text.strip()[len(number):].lower()
    try:
        value = float(number) * units[unit]
        if not 0 < value < float("inf"):
            raise ValueError
        return max(1, int(value))
    except (ValueError, KeyError, OverflowError):
        raise click.BadParameter(f"expected a positive size such as 4GiB, got {text!r}") \
            from None


def spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The SPEC argument and the options every spec-reading command shares."""
    return click.argument("spec")(common_options(f))


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--set and the limits."""
    options = [
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Override a network parameter (repeatable)."),
        click.option("--max-param-memory", default="4GiB", show_default=True,
                     help="Budget for parameters and state as float32."),
        click.option("--max-repeat", default=1000, show_default=True, type=click.IntRange(1),
                     help="Largest repeat count accepted."),
        click.option("--max-channels", default=65536, show_default=True,
                     type=click.IntRange(1), help="Largest channel count accepted."),
        click.option("--max-layers", default=100_000, show_default=True,
                     type=click.IntRange(1), help="Largest number of expanded layers."),
        click.option("--max-work", default=150_000, show_default=True,
                     type=click.IntRange(1),
                     help="Most elaboration steps (statements elaborated, once per iteration "
                          "and per block call that reaches them)."),
        click.option("--max-activation-memory", default="4GiB", show_default=True,
                     help="Budget for the feature maps alive at once in a forward pass, as "
                          "float32 (at batch 1; compile checks its own batch)."),
    ]
    for option in reversed(options):
        f = option(f)
    return spec_size_option(f)


def spec_size_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--max-spec-size: the largest spec file the command reads (a variant's base too)."""

    @functools.wraps(f)
    def wrapper(*args: Any, max_spec_size: str, max_statements: int, **kwargs: Any) -> Any:
        with spec_size_limit(_memory(max_spec_size)), statement_limit(max_statements):
            return f(*args, **kwargs)

    wrapper = click.option("--max-statements", default=DEFAULT_MAX_STATEMENTS, show_default=True,
                           type=click.IntRange(1),
                           help="Most statements in a spec (a variant's base too).")(wrapper)
    return click.option("--max-spec-size", default=size(DEFAULT_MAX_SPEC_BYTES).replace(" ", ""),
                        show_default=True, metavar="SIZE",
                        help="Largest spec file read (a variant's base too).")(wrapper)


def _limits(kw: dict[str, Any]) -> Limits:
    return Limits(max_param_bytes=_memory(kw.pop("max_param_memory")),
                  max_repeat=kw.pop("max_repeat"), max_channels=kw.pop("max_channels"),
                  max_nodes=kw.pop("max_layers"), max_work=kw.pop("max_work"),
                  max_activation_bytes=_memory(kw.pop("max_activation_memory")))


def _os_error(e: OSError) -> str:
    """What failed, for an input or output error that reached the command's top."""
    import traceback

    reason = e.strerror or str(e)
    if e.filename is not None:
        return f"{e.filename}: {reason}"
    if any(frame.f_code.co_name == "echo" and "click" in frame.f_code.co_filename
           for frame, _ in traceback.walk_tb(e.__traceback__)):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - quiet the flush at exit
        return f"cannot write to standard output: {reason}"
    return f"cannot write the output: {reason}"


def handle_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Spec errors → rendered diagnostics and exit 1; usage errors → exit 2; an output that
    cannot be written (a full disk) → ``Error: ...`` and exit 1; no tracebacks."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except SpecError as e:
            click.echo(e.render(color=sys.stderr.isatty()), err=True)
            sys.exit(EXIT_INVALID_SPEC)
        except ParamError as e:
            raise click.UsageError(str(e)) from None
        except PluginError as e:  # a plugin's own fault, not xdsl's
            raise click.ClickException(f"{e}{f' ({e.hint})' if e.hint else ''}") from None
        except SpecFileError as e:  # a device, a FIFO, unreadable: names the file and why
            raise click.UsageError(str(e)) from None
        except FileNotFoundError as e:
            raise click.UsageError(str(e).strip('"')) from None
        except (IsADirectoryError, PermissionError) as e:
            raise click.UsageError(f"cannot read {e.filename}: {e.strerror}") from None
        except click.ClickException:
            raise
        except BrokenPipeError:  # output piped into `head` and the like
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter quiet
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as e:  # a full disk, standard output on /dev/full, a vanished folder
            raise click.ClickException(_os_error(e)) from None
        except Exception as e:  # a bug in xdsl, not in the spec
            if os.environ.get("XDSL_DEBUG"):
                raise
            click.echo(f"xdsl: internal error: {type(e).__name__}: {e}\n"
                       "This is a bug in xdsl; rerun with XDSL_DEBUG=1 for the traceback.",
                       err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


def run() -> None:
    """The ``xdsl`` program (``python -m xdsl`` and the installed command).

    Python's cyclic garbage collector is paused while the program loads: the many objects
    that loading makes (pydantic's models, the grammar's tables) would set it scanning the
    whole heap again and again, a fifth of `xdsl check`'s time. Before a command runs, the
    front end every command uses is loaded too, what loading made is frozen (never scanned
    again) and the collector turned back on (:meth:`LazyGroup.invoke`): the work itself runs
    collected, as in any program. At exit what is left is frozen as well, which Python would
    otherwise scan once more (the process's memory goes back anyway).
    """
    gc.disable()
    try:
        main()
    finally:
        gc.freeze()


class LazyGroup(click.Group):
    """A group whose commands in :data:`LAZY` are imported only when one of them runs (or its
    help is asked for): ``xdsl check`` does not pay for the import of training or the language
    server, and ``xdsl --help`` lists them from their one-line help here."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def invoke(self, ctx: click.Context) -> Any:
        if not gc.isenabled():  # paused by run() while the program loads
            from . import api  # noqa: F401 - the front end, loaded while paused

            gc.freeze()
            gc.enable()
        return super().invoke(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY and name not in self.commands:
            import importlib

            module, attr = LAZY[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY and name not in self.commands:
                rows.append((name, LAZY[name][1]))
                continue
            cmd = super().get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


LAZY: dict[str, tuple[str, str]] = {
    "compile": ("xdsl.backends.pytorch.command:compile_command",
                "Compile SPEC to a PyTorch module checked against its counts."),
    "draw": ("xdsl.backends.graphviz.command:draw_command",
             "Draw SPEC like the paper's figures (SVG, PNG, PDF or DOT)."),
    "train": ("xdsl.train.command:train_command", "Train SPEC with the Xception paper's recipes."),
    "evaluate": ("xdsl.train.command:evaluate_command",
                 "Report a checkpoint's top-1 and top-5 accuracy."),
    "lsp": ("xdsl.lsp.command:lsp_command",
            "Run the language server (LSP over stdio) for editors."),
    "study": ("xdsl.study.command:study_command",
              "Train a sweep of variants and compare them in one table."),
    "plot": ("xdsl.study.plot:plot_command",
             "Plot training profiles of runs or studies (PNG, SVG, PDF)."),
}
"""Command name → ("module:attribute", its one-line help, as the command's ``short_help``)."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xdsl-nets", prog_name="xdsl")
def main() -> None:
    """xdsl: describe, check, audit and compile convolutional networks.

    SPEC is a spec file or a shipped spec's name (`xdsl list` shows them).
    """


@main.command(short_help="Validate SPEC and print a one-line summary.")
@spec_options
@handle_errors
def check(spec: str, sets: tuple[str, ...], **kw: Any) -> None:
    """Validate SPEC (a file or a shipped spec's name) and print a one-line summary."""
    from .api import parse, summarize

    limits = _limits(kw)
    click.echo(str(summarize(parse(spec).build(limits, **_parse_sets(sets)))))


@main.command("list", short_help="List the shipped specs with their summaries and counts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True, help="Output format.")
@handle_errors
def list_(fmt: str) -> None:
    """List the shipped specs and variants: each one's name (what `xdsl check NAME` and the
    other commands accept), trainable parameters and MACs at its defaults, and a summary (the
    opening of its leading comment, or its header)."""
    import json

    from .catalog import entries
    from .report import TABLES

    found = entries()
    if fmt == "json":
        click.echo(json.dumps([e.as_dict() for e in found], indent=2))
        return
    rows = [[e.name, f"{e.trainable:,}", f"{e.macs:,}", e.summary] for e in found]
    click.echo(TABLES[fmt](["spec", "trainable params", "MACs", "summary"], rows, {1, 2}))


def _spec_groups(words: tuple[str, ...], sets: dict[str, str]) -> list[tuple[str, dict]]:
    """``SPEC [NAME=VALUE ...] [SPEC [NAME=VALUE ...]] ...`` → (spec, settings) pairs."""
    groups: list[tuple[str, dict[str, str]]] = []
    for word in words:
        name, eq, value = word.partition("=")
        if eq and not os.path.exists(word):
            if not groups:
                raise click.BadParameter(f"{word!r} comes before any spec", param_hint="SPECS")
            groups[-1][1][name.strip()] = value
        else:
            groups.append((word, dict(sets)))
    return groups


@main.command(short_help="Count parameters, MACs and depth; check the spec's figures.")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [NAME=VALUE...] [SPEC ...]")
@common_options
@click.option("--sweep", metavar="NAME=V1,V2,...",
              help="Audit one spec once per value of a parameter, side by side.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "latex"]),
              default="table", show_default=True,
              help="Output format: terminal table, JSON, Markdown or booktabs LaTeX.")
@click.option("--blocks-only", is_flag=True, help="Omit the per-layer table.")
@handle_errors
def audit(specs: tuple[str, ...], sets: tuple[str, ...], sweep: str | None, fmt: str,
          blocks_only: bool, **kw: Any) -> None:
    """Count parameters, MACs and depth, and check the spec's audit expectations.

    With one SPEC: per-layer and per-block tables, totals and checks (exit 1 if a check
    fails). With several SPECs, each optionally followed by NAME=VALUE settings, or with
    --sweep: one row per network or setting, with ratios to the first row (the paper's
    Table 3 counts: `xdsl audit xception inception_v3 flavour=keras1`).
    """
    from .api import parse
    from .audit import audit as run_audit
    from .audit import compare
    from .audit import sweep as run_sweep
    from .report import render, render_rows

    limits = _limits(kw)
    groups = _spec_groups(specs, _parse_sets(sets))
    if sweep:
        name, eq, values = sweep.partition("=")
        if not eq or not values or len(groups) != 1:
            raise click.BadParameter("use --sweep NAME=V1,V2,... with exactly one spec",
                                     param_hint="--sweep")
        (spec, settings), = groups
        rows = run_sweep(parse(spec), name.strip(), [v.strip() for v in values.split(",")],
                         settings, limits)
        title = f"{rows[0].report.network}: sweep over {name.strip()}"
        click.echo(render_rows(rows, fmt, title={"table": title, "markdown": f"### {title}"}
                               .get(fmt, "")))
        return
    if len(groups) > 1:
        rows = compare([(parse(spec), settings) for spec, settings in groups], limits)
        click.echo(render_rows(rows, fmt))
        return
    (spec, settings), = groups
    report = run_audit(parse(spec), settings, limits)
    click.echo(render(report, fmt, per_layer=not blocks_only))
    if not report.ok:
        sys.exit(EXIT_INVALID_SPEC)


@main.command(short_help="List the layers and counts that differ between two specs.")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [NAME=VALUE...] [SPEC ...]")
@common_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True, help="Output format.")
@handle_errors
def diff(specs: tuple[str, ...], sets: tuple[str, ...], fmt: str, **kw: Any) -> None:
    """Layers that differ between two SPECs, or one SPEC at its defaults and at NAME=VALUE.

    `xdsl diff xception segments=4` compares Xception with its 4-segment variant;
    `xdsl diff a.x b.x` compares two files. Prints changed, added and removed layers and the
    parameter and MAC change per block.
    """
    import json

    from .api import parse
    from .diff import block_changes, layer_changes
    from .report import TABLES

    limits = _limits(kw)
    groups = _spec_groups(specs, _parse_sets(sets))
    if len(groups) == 1:
        groups = [(groups[0][0], _parse_sets(sets)), groups[0]]
    if len(groups) != 2:
        raise click.UsageError("diff compares two specs, or one spec with NAME=VALUE settings")
    (a, sa), (b, sb) = groups
    ga, gb = parse(a).build(limits, **sa), parse(b).build(limits, **sb)
    layers, blocks = layer_changes(ga, gb), block_changes(ga, gb)
    if fmt == "json":
        click.echo(json.dumps({"layers": [vars(c) for c in layers], "blocks": blocks},
                              indent=2))
        return
    table = TABLES[fmt]
    label = {"changed": "~", "added": "+", "removed": "-"}
    click.echo(f"{len(layers)} layers differ")
    if layers:
        click.echo("\n" + table(
            ["", "layer", "before", "after", "params", "MACs"],
            [[label[c.kind], c.name, c.before, c.after, f"{c.params:+,}", f"{c.macs:+,}"]
             for c in layers], {4, 5}))
    if blocks:
        rows = [[r["block"], f"{r['params_before']:,}", f"{r['params_after']:,}",
                 f"{r['params_delta']:+,}", f"{r['macs_delta']:+,}"] for r in blocks]
        total_p = sum(r["params_delta"] for r in blocks)
        total_m = sum(r["macs_delta"] for r in blocks)
        rows.append(["total", "", "", f"{total_p:+,}", f"{total_m:+,}"])
        click.echo("\n" + table(["block", "params before", "params after", "params change",
                                 "MACs change"], rows, {1, 2, 3, 4}))


@main.command(short_help="Rewrite spec files in the canonical layout.")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff instead.")
@spec_size_option
@handle_errors
def fmt(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Rewrite each spec FILE in the canonical layout (`-` reads standard input, writes
    standard output).

    Comments are kept byte for byte (less trailing spaces and tabs); the result is checked to
    parse to the same tree, and a file is replaced whole (written beside it, then renamed) or
    not at all.
    """
    import difflib
    from pathlib import Path

    from .api import decode, read_source
    from .files import max_spec_bytes, read_spec_bytes, too_large, write_atomically
    from .printer import format_source

    changed = []
    for path in paths:
        if path == "-":
            limit = max_spec_bytes()
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise too_large(data[:limit], limit, "<stdin>", None)
            click.echo(format_source(decode(data, "<stdin>")), nl=False)
            continue
        source = read_source(path)  # a regular file, capped, decoded as `xdsl check` reads it
        out = format_source(source)
        raw = read_spec_bytes(Path(path), path)
        if out.encode("utf-8") == raw:
            continue
        changed.append(path)
        if show_diff:
            text = raw.decode("utf-8", errors="replace")
            click.echo("".join(difflib.unified_diff(_keep_ends(text), _keep_ends(out),
                                                    path, path)), nl=False)
        elif not check:
            try:
                write_atomically(path, out)
            except OSError as e:
                raise click.ClickException(f"cannot write {path}: {e.strerror}; it is left "
                                           "as it was") from None
    verb = "would reformat" if check or show_diff else "reformatted"
    for path in changed:
        click.echo(f"{verb} {path}", err=True)
    if check and changed:
        sys.exit(EXIT_INVALID_SPEC)


def _keep_ends(text: str) -> list[str]:
    """Lines with their ends, broken only where the lexer breaks them (at ``\\n``)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


@main.command(short_help="Print a paper's architecture table, audit table and fingerprint.")
@spec_options
@click.option("--format", "fmt_", type=click.Choice(["latex", "markdown"]), default="latex",
              show_default=True, help="Booktabs LaTeX or Markdown.")
@click.option("--layers", "per_layer", is_flag=True, help="One row per layer, not per block.")
@handle_errors
def export(spec: str, sets: tuple[str, ...], fmt_: str, per_layer: bool, **kw: Any) -> None:
    """Paper material for SPEC: its architecture table (one row per block, or per layer),
    its audit table and a fingerprint naming the exact architecture, in booktabs LaTeX or
    Markdown."""
    from .api import parse
    from .backends.paper import export as render_export

    _limits(kw)
    click.echo(render_export(parse(spec), _parse_sets(sets), fmt_, per_layer), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
