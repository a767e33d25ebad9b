"""`--help` is complete: every command's summary is a whole sentence at any terminal width,
every option says what it does and every argument is named in its command's help (issue 10,
item 14).  The walk covers the lazily imported commands (compile, draw, train, evaluate, ...),
so an option added there without help fails here."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from xdsl.cli import main


def commands(group: click.Group = main, prefix: str = "xdsl") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [(prefix, group)]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy ones imported here
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        if isinstance(cmd, click.Group):
            out += commands(cmd, f"{prefix} {name}")
        else:
            out.append((f"{prefix} {name}", cmd))
    return out


ALL = commands()
SUBCOMMANDS = [(path, cmd) for path, cmd in ALL if cmd is not main]


def listing(width: int) -> dict[str, str]:
    """The Commands section of `xdsl --help` at a terminal width: name → summary as shown."""
    out = CliRunner().invoke(main, ["--help"], terminal_width=width).output
    section = out.split("Commands:\n", 1)[1]
    shown: dict[str, str] = {}
    last = ""
    for line in section.splitlines():
        if m := re.match(r"  (\S+)\s+(.*)", line):
            last = m.group(1)
            shown[last] = m.group(2)
        elif line.strip():
            shown[last] += " " + line.strip()
    return shown


def test_the_walk_sees_the_backend_commands() -> None:
    assert {"xdsl check", "xdsl list", "xdsl compile", "xdsl draw", "xdsl train",
            "xdsl evaluate"} <= {path for path, _ in ALL}


@pytest.mark.parametrize("width", [50, 80, 120])
def test_command_summaries_are_whole_sentences(width: int) -> None:
    shown = listing(width)
    assert set(shown) == set(main.list_commands(click.Context(main))) == set(main.commands)
    for name, text in shown.items():
        assert not text.endswith("...") and text.endswith("."), (name, text)
        assert text == main.commands[name].get_short_help_str(), (name, text)


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_option_has_help(path: str, cmd: click.Command) -> None:
    # a bare default such as "[0.9]" is not a description
    missing = [p.opts[0] for p in cmd.params if isinstance(p, click.Option) and not p.hidden
               and not re.search(r"[a-z]", re.sub(r"\[[^]]*\]", "", p.help or ""))]
    assert not missing, f"{path}: options without help: {missing}"


@pytest.mark.parametrize(("path", "cmd"), SUBCOMMANDS, ids=[p for p, _ in SUBCOMMANDS])
def test_every_argument_is_named_in_the_help(path: str, cmd: click.Command) -> None:
    for p in cmd.params:
        if isinstance(p, click.Argument):
            word = re.match(r"\W*(\w+)", p.make_metavar(click.Context(cmd))).group(1)
            assert re.search(rf"\b{word}\b", cmd.help or ""), (path, word)
