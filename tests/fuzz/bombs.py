"""Resource bombs: small texts that ask for a lot of time or stack at default limits.

Each bomb is a function of one size; :data:`BOMBS` maps its name to the function and the sizes
fuzzed (the smallest first, which the shrinker tries when minimising). A bomb's case is written
at the top of the workspace (seed ``bomb/<name>``).
"""

from __future__ import annotations

from collections.abc import Callable

from fuzz.mutate import Case, encode

HEAD = "network bomb:\n    input image: 3 x 8 x 8\n"


def nested_repeat_false_if(depth: int) -> str:
    """1000 ** depth iterations that build nothing, so the layer limit never stops them."""
    body = "".join("    " * (i + 1) + "repeat 1000:\n" for i in range(depth))
    return HEAD + body + "    " * (depth + 1) + "relu if false\n    relu\n"


def doubling_blocks(levels: int) -> str:
    """Each block calls the one below twice: 2 ** levels calls of a false ``if``."""
    blocks = ["    block b0(): relu if false"]
    blocks += [f"    block b{i}(): b{i - 1}(); b{i - 1}()" for i in range(1, levels + 1)]
    return HEAD + "\n".join(blocks) + f"\n    b{levels}()\n    relu\n"


def block_chain(depth: int) -> str:
    """Blocks calling blocks ``depth`` deep: a call stack, not a loop."""
    blocks = ["    block b0(): relu"]
    blocks += [f"    block b{i}(): b{i - 1}()" for i in range(1, depth + 1)]
    return HEAD + "\n".join(blocks) + f"\n    b{depth}()\n"


def long_expression(terms: int) -> str:
    return HEAD + "    conv 8 3x3 pad=(1" + " + 0" * terms + ")\n"


def deep_parentheses(depth: int) -> str:
    return HEAD + "    conv 8 3x3 pad=" + "(" * depth + "1" + ")" * depth + "\n"


def deep_nesting(depth: int) -> str:
    """``residual:`` inside ``residual:``, ``depth`` levels of indentation."""
    body = "".join("    " * (i + 1) + "residual:\n" for i in range(depth))
    return HEAD + body + "    " * (depth + 1) + "relu\n"


def many_layers(count: int) -> str:
    """``count`` layers through two nested repeats: at most 100,000 stays within the limits."""
    outer = max(1, count // 1000)
    return HEAD + f"    repeat {outer}:\n        repeat {count // outer}: relu\n"


def many_lines(count: int) -> str:
    return HEAD + "    relu\n" * count


def long_line(count: int) -> str:
    return HEAD + "    " + "; ".join(["relu"] * count) + "\n"


def wide_concat(branches: int) -> str:
    body = "".join("        branch:\n            conv 8 1x1\n" for _ in range(branches))
    return HEAD + "    concat:\n" + body


def huge_integer(digits: int) -> str:
    return HEAD + f"    linear {'9' * digits}\n"


def long_name(length: int) -> str:
    return f"network {'n' * length}:\n    input image: 3 x 8 x 8\n    relu\n"


BOMBS: dict[str, tuple[Callable[[int], str], tuple[int, ...]]] = {
    "nested_repeat_false_if": (nested_repeat_false_if, (2, 3, 4)),
    "doubling_blocks": (doubling_blocks, (16, 20, 30)),
    "block_chain": (block_chain, (200, 1500)),
    "long_expression": (long_expression, (2000, 20000)),
    "deep_parentheses": (deep_parentheses, (200, 2000)),
    "deep_nesting": (deep_nesting, (100, 400)),
    "many_layers": (many_layers, (20000, 100000)),
    "many_lines": (many_lines, (20000, 100000)),
    "long_line": (long_line, (20000,)),
    "wide_concat": (wide_concat, (2000,)),
    "huge_integer": (huge_integer, (4400, 100000)),
    "long_name": (long_name, (100000,)),
}


def bomb(name: str, size: int) -> Case:
    return Case(f"bomb/{name}", encode(BOMBS[name][0](size)), f"bomb {name}({size})")


def all_bombs() -> list[Case]:
    """Every bomb at every size: the fixed set the CI test runs."""
    return [bomb(name, size) for name, (_, sizes) in BOMBS.items() for size in sizes]
