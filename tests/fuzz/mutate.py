"""Seeds and deterministic mutators for fuzzing specs.

A spec under test is a :class:`Case`: the seed it came from (its path in the repository
layout, so that a variant's ``of "../xception.x"`` still finds its base), its bytes, and the
recipe that made it. Mutators work on ``str``; bytes that are not UTF-8 travel as lone
surrogates (``surrogateescape``), so one mutator can insert a stray ``\\xff`` byte and another
cut a multi-byte character in half. Each mutator takes the text and a ``random.Random``; a
recipe step is ``(mutator name, integer seed)``, so every case is reproducible from its recipe.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from xdsl.api import shipped_specs
from xdsl.lexer import KEYWORDS

REPO = Path(__file__).resolve().parents[2]
Step = tuple[str, int]


@dataclass(frozen=True)
class Case:
    """One input: ``seed`` is the repository path it is written beside (``specs/x.x``)."""

    seed: str
    data: bytes
    recipe: str = ""


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def specs_root() -> Path:
    return Path(str(resources.files("xdsl.specs")))


@cache
def seeds() -> dict[str, bytes]:
    """Every shipped spec (``xdsl.api.shipped_specs``: new zoo specs join automatically) and
    every spec under ``tests/``, keyed by their path in the repository layout."""
    root = specs_root()
    found = {f"specs/{p.relative_to(root).as_posix()}": p.read_bytes()
             for p in shipped_specs().values()}
    for path in sorted((REPO / "tests").rglob("*.x")):
        found[path.relative_to(REPO).as_posix()] = path.read_bytes()
    return dict(sorted(found.items()))


def shipped_seeds() -> list[str]:
    return [s for s in seeds() if s.startswith("specs/")]


# ---- pieces of text --------------------------------------------------------------------------

TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|\d+(?:x\d+)+|[A-Za-z_]\w*|\d[\d_,]*(?:\.\d*)?'
                   r'(?:[eE][-+]?\d+)?|==|!=|<=|>=|//|\S')
NUMBER = re.compile(r"\d+")
NAME = re.compile(r"\b[A-Za-z_]\w*\b")
WEIRD = ["\u2028", "\u2029", "\x0c", "\x0b", "\x00", "\ufeff", "\u0301", "\x85", "\x1c",
         "\x1d", "\x1e", "\xa0", "\u200b", "\u202e", "\xe9", "\U0001f600", "\r", "\t",
         "\udcff", "\udcc3", "\\", '"', "#", "`", "\u3000", "\ufffd"]
"""Line separators Python's ``splitlines`` knows and lark does not, NUL, BOM, combining and
invisible characters, a bidi override, and two bytes that are not UTF-8 (\\xff, half an é)."""
LOOKALIKES = {"x": "\xd7", "a": "\u0430", " ": "\xa0", "1": "\uff11", "-": "\u2212",
              "=": "\uff1d", ":": "\uff1a", "(": "\uff08"}
NUMBERS_HUGE = ["2147483648", "9223372036854775808", "1" + "0" * 30, "1e400", "1e-400",
                "1" + "_000" * 12, "0.0000001", "4294967297x1"]
HOSTILE_NAMES = ["class", "self", "forward", "training", "torch", "nn", "F", "x", "_", "None",
                 "__init__", "lambda", "eval", "state_dict", "memory_format", "a" * 300,
                 "input", "relu", "network", "branch1", "shortcut", "residual1", "image"]
HOSTILE_PATHS = ["", ".", "/", "..", "/dev/null", "/dev/zero", "/proc/self/mem", "\x00",
                 "a\x00b.x", "x" * 300 + ".x", ("d/" * 200) + "x.x", "~/xception.x",
                 "../../../../../../../../../../etc/hostname", "fuzzcase.x", "./",
                 "xception_s4.x", "../variants/xception_s4.x", "../xception.x/", "\t",
                 "nonexistent.x", "C:\\xception.x", "../../xception.x"]
VOCABULARY = [":", "(", ")", ",", ";", "=", "x", "3x3", "-", "#", '"', "\t", "    ", "\n",
              "if", "else", "as", "from", "global", "0", "1.5", "true", "false", "none",
              "{", "%", "//", "not", "==", "repeat 1000:", "residual:", "concat:", "branch:",
              "x " * 20, "(" * 50, ")" * 50, *KEYWORDS]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _pick_line(lines: list[str], rng: random.Random) -> int:
    return rng.randrange(len(lines))


def _tokens(text: str) -> list[re.Match[str]]:
    return list(TOKEN.finditer(text))


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


# ---- mutators --------------------------------------------------------------------------------


def delete_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    del lines[_pick_line(lines, rng)]
    return "\n".join(lines)


def delete_lines(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = _pick_line(lines, rng)
    del lines[i:i + rng.randint(2, 8)]
    return "\n".join(lines)


def duplicate_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = _pick_line(lines, rng)
    lines.insert(_pick_line(lines, rng), lines[i])
    return "\n".join(lines)


def swap_lines(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i, j = _pick_line(lines, rng), _pick_line(lines, rng)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def join_lines(text: str, rng: random.Random) -> str:
    newlines = [m.start() for m in re.finditer("\n", text)]
    if not newlines:
        return text
    at = rng.choice(newlines)
    return _splice(text, at, at + 1, rng.choice(["", " ", "; "]))


def truncate(text: str, rng: random.Random) -> str:
    return text[:rng.randrange(len(text) + 1)]


def delete_token(text: str, rng: random.Random) -> str:
    if not (tokens := _tokens(text)):
        return text
    m = rng.choice(tokens)
    return _splice(text, m.start(), m.end(), "")


def duplicate_token(text: str, rng: random.Random) -> str:
    if not (tokens := _tokens(text)):
        return text
    m = rng.choice(tokens)
    return _splice(text, m.start(), m.start(), m.group() + rng.choice(["", " "]))


def swap_tokens(text: str, rng: random.Random) -> str:
    tokens = _tokens(text)
    if len(tokens) < 2:
        return text
    a, b = sorted(rng.sample(tokens, 2), key=lambda m: m.start())
    return (text[:a.start()] + b.group() + text[a.end():b.start()] + a.group()
            + text[b.end():])


def replace_token(text: str, rng: random.Random) -> str:
    """A token replaced by another token of the same spec: plausible, often still valid."""
    if not (tokens := _tokens(text)):
        return text
    m = rng.choice(tokens)
    return _splice(text, m.start(), m.end(), rng.choice(tokens).group())


def insert_token(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return _splice(text, at, at, rng.choice(VOCABULARY))


def _number(values: Sequence[str]) -> Callable[[str, random.Random], str]:
    def mutate(text: str, rng: random.Random) -> str:
        if not (numbers := list(NUMBER.finditer(text))):
            return text
        m = rng.choice(numbers)
        return _splice(text, m.start(), m.end(), rng.choice(values))

    mutate.__name__ = f"number_{values[0][:8]}"
    return mutate


def indent_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i = _pick_line(lines, rng)
    lines[i] = rng.choice([" ", "  ", "    ", "\t", " \t", "\x0c"]) + lines[i]
    return "\n".join(lines)


def dedent_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    indented = [i for i, line in enumerate(lines) if line[:1] in (" ", "\t")]
    if indented:
        i = rng.choice(indented)
        lines[i] = lines[i][rng.randint(1, 4):]
    return "\n".join(lines)


def tabify(text: str, rng: random.Random) -> str:
    """Leading groups of four spaces become tabs, on one line or on all of them."""
    lines = _lines(text)
    chosen = range(len(lines)) if rng.random() < 0.5 else [_pick_line(lines, rng)]
    for i in chosen:
        body = lines[i].lstrip(" ")
        lines[i] = "\t" * ((len(lines[i]) - len(body)) // 4) + body
    return "\n".join(lines)


def insert_char(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return _splice(text, at, at, rng.choice(WEIRD))


def lookalike(text: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(text) if c in LOOKALIKES]
    if not spots:
        return text
    i = rng.choice(spots)
    return _splice(text, i, i + 1, LOOKALIKES[text[i]])


def comment(text: str, rng: random.Random) -> str:
    """A comment holding odd characters: inside an existing one, on its own line or trailing."""
    odd = "".join(rng.choice(WEIRD) for _ in range(rng.randint(1, 3)))
    lines = _lines(text)
    i = _pick_line(lines, rng)
    words = rng.choice(["note", "x = 1", '"quoted"', "## twice", "", "a  b"])
    where = rng.randrange(3)
    if where == 0 and "#" in lines[i]:
        lines[i] += odd + words
    elif where == 1:
        indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        lines.insert(i, f"{indent}# {words}{odd}")
    else:
        lines[i] += f"  # {odd}{words}"
    return "\n".join(lines)


def line_ends(text: str, rng: random.Random) -> str:
    return rng.choice([text.replace("\n", "\r\n"), text.replace("\n", "\r"), "\ufeff" + text,
                       text.replace("\n", "\r\n", 1), text + "\n" * rng.randint(1, 3),
                       text.rstrip("\n"), "\n\n" + text])


def rename(text: str, rng: random.Random) -> str:
    """Every occurrence of one name (a block, flow, parameter, alias...) renamed: the spec
    often stays valid and carries the hostile name into the diagram and the generated code."""
    names = sorted({m.group() for m in NAME.finditer(text)} - set(KEYWORDS))
    if not names:
        return text
    old = rng.choice(names)
    return re.sub(rf"\b{re.escape(old)}\b", rng.choice(HOSTILE_NAMES), text)


def variant_path(text: str, rng: random.Random) -> str:
    """A variant's base path replaced by an odd one (a network gets no-op)."""
    found = re.search(r'\bof\s+"([^"\n]*)"', text)
    if not found:
        return text
    return _splice(text, found.start(1), found.end(1), rng.choice(HOSTILE_PATHS))


def repeat_count(text: str, rng: random.Random) -> str:
    found = list(re.finditer(r"\brepeat\s+([^:\n]+):", text))
    if not found:
        return text
    m = rng.choice(found)
    return _splice(text, m.start(1), m.end(1), rng.choice(["0", "1000", "1001", "-1",
                                                           "true", "1000 * 1000"]))


def wrap(text: str, rng: random.Random) -> str:
    """A run of lines wrapped in ``repeat 1000:`` or a false ``if``, one level deeper."""
    lines = _lines(text)
    i = _pick_line(lines, rng)
    j = min(len(lines), i + rng.randint(1, 6))
    indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    header = rng.choice(["repeat 1000:", "if false:", "residual:", "repeat 2:"])
    lines[i:j] = [indent + header, *["    " + line for line in lines[i:j]]]
    return "\n".join(lines)


MUTATORS: dict[str, Callable[[str, random.Random], str]] = {
    f.__name__: f for f in [
        delete_line, delete_lines, duplicate_line, swap_lines, join_lines, truncate,
        delete_token, duplicate_token, swap_tokens, replace_token, insert_token,
        indent_line, dedent_line, tabify, insert_char, lookalike, comment, line_ends, rename,
        variant_path, repeat_count, wrap]
}
MUTATORS |= {"number_zero": _number(["0"]), "number_minus_one": _number(["-1"]),
             "number_huge": _number(NUMBERS_HUGE), "number_4400_digits": _number(["9" * 4400])}


def mutate(seed: str, steps: Sequence[Step]) -> Case:
    """The seed's text after the recipe ``steps`` (each ``(mutator, integer seed)``)."""
    text = decode(seeds()[seed])
    for name, n in steps:
        text = MUTATORS[name](text, random.Random(n))
    recipe = " | ".join([seed, *(f"{name}({n})" for name, n in steps)])
    return Case(seed, encode(text), recipe)


def random_case(rng: random.Random, max_steps: int = 4) -> Case:
    """A case for the long fuzzer: a seed (shipped specs twice as likely) and 1-4 steps."""
    pool = list(seeds())
    seed = rng.choice(pool + shipped_seeds())
    steps = [(rng.choice(sorted(MUTATORS)), rng.randrange(2**32))
             for _ in range(rng.randint(1, max_steps))]
    return mutate(seed, steps)
