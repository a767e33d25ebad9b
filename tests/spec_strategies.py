"""Hypothesis strategies producing spec text: generated networks and mutated shipped specs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "specs").rglob("*.x"))

channels = st.sampled_from(["8", "16", "c", "c * 2", "c // 2", "(c + 8)"])
kernels = st.sampled_from(["1x1", "3x3", "1x7", "7x1", "k x k", "3"])
options = st.lists(st.sampled_from(["stride=2", "pad=same", "pad=valid", "pad=1", "bias=false",
                                    "dilation=2", "groups=2", "pad=1x0"]),
                   max_size=2, unique=True)


@st.composite
def layer(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["conv", "sepconv", "dwconv", "gconv", "bn", "relu", "elu",
                                 "gelu", "maxpool", "avgpool", "dropout", "act", "identity"]))
    opts = draw(options)
    if kind in ("conv", "sepconv"):
        return " ".join([kind, draw(channels), draw(kernels), *opts])
    if kind == "gconv":
        return f"gconv {draw(channels)} {draw(kernels)} segments={draw(st.sampled_from('124'))}"
    if kind == "dwconv":
        return " ".join(["dwconv", draw(kernels), *[o for o in opts if "groups" not in o]])
    if kind in ("maxpool", "avgpool"):
        size, stride = draw(st.sampled_from(["2x2", "3x3"])), draw(st.sampled_from("12"))
        return f"{kind} {size} stride={stride}"
    if kind == "dropout":
        return f"dropout {draw(st.sampled_from(['0.1', '0.5']))}"
    if kind == "act":
        return f"act {draw(st.sampled_from(['relu', 'elu', 'none', 'gelu']))}"
    return kind


@st.composite
def statements(draw: st.DrawFn, indent: int, depth: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 9 if depth < 2 else 5))
        if choice <= 5:
            lines.append(pad + "; ".join(draw(st.lists(layer(), min_size=1, max_size=3))))
        elif choice == 6:
            lines.append(f"{pad}repeat {draw(st.integers(0, 3))}:")
            lines += draw(statements(indent + 4, depth + 1))
        elif choice == 7:
            lines.append(f"{pad}residual:")
            lines += draw(statements(indent + 4, depth + 1))
        elif choice == 8:
            lines.append(f"{pad}concat:")
            for _ in range(draw(st.integers(1, 3))):
                lines.append(f"{pad}    branch:")
                lines += draw(statements(indent + 8, depth + 1))
        else:
            lines.append(f"{pad}if deep:")
            lines += draw(statements(indent + 4, depth + 1))
    return lines


@st.composite
def generated_spec(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([8, 16, 32]))
    head = [
        "# generated",
        "network gen(c: int = 8, k: int = 3, deep: bool = true):",
        f"    input image: 3 x {size} x {size}",
        "    defaults:",
        "        conv, sepconv: bias=false, then bn",
    ]
    flows = []
    for name in draw(st.lists(st.sampled_from(["entry", "middle", "exit"]), min_size=1,
                              max_size=3, unique=True)):
        flows.append(f"    flow {name}:")
        flows += draw(statements(8))
    tail = ["    flow head:", "        global avgpool; linear 10"]
    return "\n".join(head + flows + tail) + "\n"


TOKENS = [":", "(", ")", ",", ";", "=", "x", "3x3", "-", "#", '"', "\t", "    ", "\n",
          "repeat", "residual", "conv", "if", "else", "as", "from", "global", "0", "99999999",
          "1.5", "true", "concat", "branch", "block", "flow", "network", "audit", "{", "é"]


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SHIPPED)).read_text()
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate_line", "swap_lines"]))
        if op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        elif op == "insert":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "duplicate_line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text
