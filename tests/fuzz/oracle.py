"""The fuzzing oracle: one spec through every torch-free stage, and what went wrong.

Stages, each run under a watchdog: ``parse`` (``xdsl.parse`` of the file), ``check`` (graph IR
and summary), ``audit`` (report in every format), ``draw`` (``xdsl.draw``: view and DOT, not
rendered), ``compile`` (lowering plan, batch-norm folding, generated ``__init__`` and
``forward`` compiled as Python: everything of the PyTorch backend that runs without torch) and
``fmt`` (``format_source``, then its output re-parsed, rebuilt and formatted again).

Properties (a :class:`Failure` for each broken one):

* only :class:`xdsl.SpecError` escapes, and the documented usage errors: ``ParamError`` (a
  parameter without a default must be given by the caller) and ``RenderError`` (too many
  boxes to draw);
* every error is located: a source, and a span inside it for every diagnostic, whose excerpt
  is the line the span's number names;
* no stage takes more than :data:`LIMIT_S` seconds at default limits. The verdict uses the
  process's CPU time (a shared CI machine stretches wall time, not CPU time); wall time is
  measured with ``perf_counter`` and reported, and a stage still running after
  :data:`HANG_S` wall seconds is stopped and reported as a hang;
* ``fmt`` output parses to the same syntax tree and the same graph IR (or the same errors),
  keeps every comment byte for byte (less trailing spaces and tabs), and is a fixed point.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from xdsl.backends.graphviz import RenderError, draw
from xdsl.backends.pytorch.codegen import class_name, forward_source, init_source
from xdsl.backends.pytorch.lowering import fold_batch_norms, lower

import xdsl
from fuzz.mutate import Case, specs_root
from xdsl.api import Spec, read_source, summarize
from xdsl.audit import audit
from xdsl.diagnostics import Source, SpecError
from xdsl.graph import Limits
from xdsl.params import ParamError
from xdsl.parser import parse_source
from xdsl.printer import format_source
from xdsl.report import FORMATS, render

LIMIT_S = 2.0
HANG_S = 30.0
CASE_NAME = "fuzzcase.x"


class StageTimeout(BaseException):
    """Raised by the watchdog inside a stage; a BaseException so that no ``except
    Exception`` in xdsl swallows it."""


@dataclass(frozen=True)
class Failure:
    stage: str
    kind: str  # exception, unlocated, slow, hang, fmt-tree, fmt-graph, fmt-comments, ...
    detail: str
    signature: str
    """What tells failure classes apart (stage, kind, exception and where it was raised)."""


@dataclass
class Outcome:
    failures: list[Failure] = field(default_factory=list)
    times: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per stage: (wall seconds by perf_counter, CPU seconds)."""


class Workspace:
    """A temporary copy of the repository layout's specs, where cases are written.

    A case seeded from ``specs/variants/x.x`` is written as ``specs/variants/fuzzcase.x``, so
    its base resolves to the pristine copy of ``specs/xception.x``.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="xdsl-fuzz-"))
        shutil.copytree(specs_root(), self.root / "specs",
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        parse_source(Source("network warm:\n    input i: 3 x 8 x 8\n"))  # builds the parser

    def path(self, case: Case) -> Path:
        folder = self.root / Path(case.seed).parent if "/" in case.seed else self.root
        if case.seed.startswith("bomb/"):
            folder = self.root
        folder.mkdir(parents=True, exist_ok=True)
        return folder / CASE_NAME

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---- watchdog --------------------------------------------------------------------------------


@contextmanager
def watchdog(limit_s: float, hang_s: float) -> Iterator[None]:
    """Interrupt the block after ``limit_s`` CPU seconds or ``hang_s`` wall seconds."""

    def fire(signum: int, _frame: Any) -> None:
        raise StageTimeout("cpu" if signum == signal.SIGPROF else "wall")

    old = signal.signal(signal.SIGPROF, fire), signal.signal(signal.SIGALRM, fire)
    # repeating: a signal that lands in a gc callback is swallowed, the next one is not
    signal.setitimer(signal.ITIMER_PROF, limit_s, 0.05)
    signal.setitimer(signal.ITIMER_REAL, hang_s, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old[0])
        signal.signal(signal.SIGALRM, old[1])


def _where(e: BaseException) -> str:
    """The innermost frame of xdsl's own code in the traceback: ``file.py:function``."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if "/xdsl/" in f.filename or "/backends/" in f.filename]
    last = frames[-1] if frames else None
    return f"{Path(last.filename).name}:{last.name}" if last else "?"


def _shape(message: str) -> str:
    """A message with its particulars (numbers, quoted names) blanked, to group failures."""
    message = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"", "_", message)
    return re.sub(r"\d+", "N", message)[:90]


def _text_lines(source: Source) -> int:
    return max(len(source.lines), source.text.count("\n") + 1)


def located(stage: str, e: SpecError) -> list[Failure]:
    """Failures for diagnostics without a place in a known source (or rendering badly)."""
    out = []
    try:
        rendered = e.render()
    except Exception as bad:  # noqa: BLE001 - the renderer must not fail either
        return [Failure(stage, "render", f"{type(bad).__name__}: {bad}",
                        f"{stage}|render|{type(bad).__name__}|{_where(bad)}")]
    if "Traceback" in rendered:
        out.append(Failure(stage, "render", rendered, f"{stage}|render|traceback"))
    for d in e.diagnostics:
        if e.source is None or d.span is None:
            what = "no source" if e.source is None else "no span"
            out.append(Failure(stage, "unlocated", f"{what}: {d.message}",
                               f"{stage}|unlocated|{_shape(d.message)}"))
        elif not (1 <= d.span.line <= _text_lines(e.source) and d.span.column >= 1):
            out.append(Failure(stage, "mislocated", f"{d.span} outside {e.source.name}: "
                               f"{d.message}", f"{stage}|mislocated|{_shape(d.message)}"))
        elif e.source.line(d.span.line) != _line(e.source.text, d.span.line):
            out.append(Failure(stage, "excerpt", f"{d.span}: the excerpt shows "
                               f"{e.source.line(d.span.line)!r}, not line {d.span.line} "
                               f"{_line(e.source.text, d.span.line)!r}", f"{stage}|excerpt"))
    return out


def _line(text: str, number: int) -> str:
    """Line ``number`` as the grammar counts lines (``\\n`` only; sources hold no ``\\r``)."""
    lines = text.split("\n")
    return lines[number - 1] if number <= len(lines) else ""


def _messages(e: Exception) -> list[str]:
    return sorted(d.message for d in e.diagnostics) if isinstance(e, SpecError) else [str(e)]


class _Run:
    """One case's stages; ``stage`` runs a function under the watchdog and records failures."""

    def __init__(self, limit_s: float, hang_s: float):
        self.limit_s, self.hang_s = limit_s, hang_s
        self.outcome = Outcome()

    def fail(self, failure: Failure) -> None:
        self.outcome.failures.append(failure)

    def stage(self, name: str, fn: Callable[[], Any], allowed: tuple[type, ...] = ()
              ) -> tuple[str, Any]:
        """("ok", value), ("error", SpecError) or ("failed", None)."""
        wall, cpu = time.perf_counter(), time.process_time()
        result: tuple[str, Any] = ("failed", None)
        try:
            with watchdog(self.limit_s, self.hang_s):
                result = ("ok", fn())
        except StageTimeout as e:
            kind = "slow" if str(e) == "cpu" else "hang"
            self.fail(Failure(name, kind, f"interrupted in {_where(e)}",
                              f"{name}|{kind}|{_where(e)}"))
        except SpecError as e:
            for failure in located(name, e):
                self.fail(failure)
            result = ("error", e)
        except allowed as e:
            result = ("error", e)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - anything else is what the fuzzer hunts
            self.fail(Failure(name, "exception", f"{type(e).__name__}: {str(e)[:300]}",
                              f"{name}|exception|{type(e).__name__}|{_where(e)}"))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.outcome.times[name] = (wall, cpu)
        if cpu > self.limit_s and result[0] != "failed":
            self.fail(Failure(name, "slow", f"{cpu:.2f} s CPU, {wall:.2f} s wall",
                              f"{name}|slow|finished"))
        return result


# ---- the graph IR and comments, compared -----------------------------------------------------


def graph_dump(g: nx.DiGraph) -> Any:
    """Everything of the graph IR except source positions (which ``fmt`` may move)."""
    info = dict(g.graph)
    info["repeats"] = {k: {a: b for a, b in v.items() if a != "line"}
                       for k, v in info.get("repeats", {}).items()}
    nodes = [(n, d["node"].model_dump(mode="json")) for n, d in g.nodes(data=True)]
    return info, nodes, sorted((a, b, sorted(d.items())) for a, b, d in g.edges(data=True))


def comments(text: str) -> Counter[str]:
    """The comments of spec text as the grammar sees them: ``#`` outside a string, to the next
    ``\\n`` (the only line end lark knows), trailing spaces and tabs dropped."""
    found: Counter[str] = Counter()
    for line in text.split("\n"):
        in_string = False
        for i, ch in enumerate(line):
            if ch == '"':
                in_string = not in_string
            elif ch == "#" and not in_string:
                found[line[i:].rstrip(" \t")] += 1
                break
    return found


SPLITLINES_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""Line ends for ``str.splitlines`` that the grammar does not know (it breaks at ``\\n``)."""


def _cause(texts: Counter[str]) -> str:
    """Why comments changed, as far as their characters tell: a line end only Python knows,
    a space only ``str.rstrip`` strips, or something else."""
    chars = {c for t in texts for c in t}
    if chars & SPLITLINES_BREAKS:
        return "splitlines-break"
    if any(t.rstrip() != t.rstrip(" \t") for t in texts):
        return "unicode-trailing-space"
    return "other"


# ---- the stages ------------------------------------------------------------------------------


def _check(spec: Spec) -> nx.DiGraph:
    g = spec.graph(Limits())
    summarize(g)
    return g


def _audit(spec: Spec) -> None:
    report = audit(spec, {}, Limits())
    for fmt in FORMATS:
        render(report, fmt)


def _compile(g: nx.DiGraph) -> None:
    plan = lower(g)
    folded = fold_batch_norms(plan)
    init = init_source(plan, "channels_last")
    for code in (forward_source(plan), forward_source(plan, False), forward_source(folded)):
        compile(f"class {class_name(plan.network)}:\n{init}\n{code}", "<xdsl codegen>", "exec")


def run(case: Case, workspace: Workspace, limit_s: float = LIMIT_S,
        hang_s: float = HANG_S) -> Outcome:
    """Every stage on ``case``; the failures found and the time each stage took."""
    path = workspace.path(case)
    path.write_bytes(case.data)
    r = _Run(limit_s, hang_s)
    status, spec = r.stage("parse", lambda: xdsl.parse(str(path)))
    built: tuple[str, Any] = ("failed", None) if status == "failed" else (status, spec)
    if status == "ok":
        built = r.stage("check", lambda: _check(spec), allowed=(ParamError,))
        if built[0] == "ok":
            r.stage("audit", lambda: _audit(spec))
            r.stage("draw", lambda: draw(spec, limits=Limits()).dot, allowed=(RenderError,))
            r.stage("compile", lambda: _compile(built[1]))
    if not any(f.stage == "parse" and f.kind in ("slow", "hang") for f in r.outcome.failures):
        _fmt(r, path, built)  # fmt parses with the same parser: no need to time it out twice
    return r.outcome


def _fmt(r: _Run, path: Path, built: tuple[str, Any]) -> None:
    """``fmt``: the output re-read must mean the same, keep the comments, be a fixed point."""
    status, out = r.stage("fmt", lambda: format_source(read_source(str(path))))
    refused = [d.message for d in getattr(out, "diagnostics", [])
               if d.message.startswith("xdsl fmt would")]  # fmt's own check caught a bug
    if refused:
        r.fail(Failure("fmt", "fmt-refused", refused[0], f"fmt|fmt-refused|{_shape(refused[0])}"))
    if status != "ok":
        return
    text = read_source(str(path)).text
    lost, added = comments(text) - comments(out), comments(out) - comments(text)
    if lost or added:
        r.fail(Failure("fmt", "fmt-comments", f"lost {sorted(lost)!r}, added {sorted(added)!r}",
                       f"fmt|fmt-comments|{_cause(lost + added)}"))
    again = path.with_name("fuzzcase_fmt.x")
    again.write_text(out, encoding="utf-8")
    status, tree = r.stage("fmt", lambda: parse_source(Source(out, str(again))))
    if status != "ok":
        r.fail(Failure("fmt", "fmt-unparsable", f"fmt output does not parse:\n{out[:400]}",
                       "fmt|fmt-unparsable"))
        return
    if tree.model_dump() != parse_source(Source(text)).model_dump():
        r.fail(Failure("fmt", "fmt-tree", "fmt output parses to another syntax tree",
                       "fmt|fmt-tree"))
    if r.stage("fmt", lambda: format_source(Source(out))) != ("ok", out):
        r.fail(Failure("fmt", "fmt-idempotent", "formatting the output changes it again",
                       "fmt|fmt-idempotent"))
    if built[0] == "failed":
        return
    status, result = r.stage("fmt", lambda: xdsl.parse(str(again)).graph(Limits()),
                             allowed=(ParamError,))
    same = (status == built[0] == "ok" and graph_dump(result) == graph_dump(built[1])) or \
        (status == built[0] == "error" and _messages(result) == _messages(built[1]))
    if status != "failed" and not same:
        r.fail(Failure("fmt", "fmt-graph", "fmt output builds another graph IR (or other "
                       "errors)", "fmt|fmt-graph"))
