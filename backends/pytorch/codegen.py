"""Plan → Python source: the straight-line ``forward`` and the standalone ``--export-py`` file.

The compiled module and the exported file run the same ``forward`` text, so what a user pastes
into a code release is exactly what xdsl ran. Values that live for one step are called ``x``;
a value read later (a residual shortcut, a branch input) keeps its layer's name.
Names and values from the spec (its names, file name, ``--set`` values) enter the source only
through :mod:`.pytext`, which escapes them for where they land.

With ``inplace`` (the default), a ReLU or a residual sum overwrites its input when nothing else
reads it (:attr:`Lowering.donates`): that saves an allocation per layer, 4 % of Xception's eval
time on a CPU. Xception's projection shortcut reads the pre-ReLU sum, so that ReLU is never in
place. In-place ops break ``register_full_backward_hook`` on the layer before them (as in
timm); compile with ``inplace=False`` for such hooks.
"""

from __future__ import annotations

import inspect
import keyword
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from xdsl.backends.pytorch.lowering import Emit, Plan, Step, lowering_of, plugin_modules
from xdsl.backends.pytorch.pytext import attr_name, comment_text, doc_text, identifier

from xdsl.evaluate import describe_settings

RUNTIME_NAMES = ("PointwiseConv2d", "SeparableConv2d", "partial_affine", "avg_pool2d_exclude_pad",
                 "LayerScale", "StochasticDepth", "init_weights")
"""Definitions of runtime.py that generated code may use (copied into exported files)."""

_RESERVED = frozenset({*keyword.kwlist, *keyword.softkwlist, "self", "x", "torch", "F", "nn",
                       "float", *RUNTIME_NAMES})


def module_path(name: str) -> str:
    """The attribute path of a layer's module: its IR name, made safe component by component."""
    return ".".join(attr_name(p) for p in name.split("."))


def class_name(network: str) -> str:
    """The generated class's name: the network's in CamelCase (`inception_v3` -> `InceptionV3`),
    made a valid identifier that shadows nothing (`_0` -> `Net0`, a reserved name + `Net`)."""
    name = "".join(p[:1].upper() + p[1:] for p in network.split("_") if p) or "Network"
    if not name.isidentifier():  # the part after an underscore began with a digit
        name = "Net" + name if ("Net" + name).isidentifier() else "Network"
    return name + "Net" if name in _RESERVED else name


def _var(name: str, taken: set[str]) -> str:
    base = identifier(name, _RESERVED)
    var, k = base, 2
    while var in taken:
        var, k = f"{base}_{k}", k + 1
    taken.add(var)
    return var


def _block(step: Step) -> str:
    return ".".join(step.node.scope[:2])


def _owned(step: Step, readers: Mapping[str, list[str]], donors: Mapping[str, bool]
           ) -> tuple[bool, ...]:
    return tuple(readers[src] == [step.name] and donors.get(src, False)
                 for src in step.inputs)


def forward_source(plan: Plan, inplace: bool = True) -> str:
    """``def forward(self, <input>)`` as straight-line code, indented for a class body.

    It returns the main output, or a tuple (main output, side heads...) when the spec declares
    ``output`` heads.
    """
    readers = plan.consumers()
    donors = {s.name: inplace and lowering_of(s.node.op).donates(s.node) for s in plan.steps}
    inp = plan.input
    shapes = {inp.name: inp.shape, **{s.name: s.node.shape for s in plan.steps}}
    taken: set[str] = set()
    var = {inp.name: _var(inp.name, taken)}
    body: list[str] = []
    if len(inp.shape) == 3:
        body.append(f"{var[inp.name]} = {var[inp.name]}.contiguous("
                    "memory_format=self.memory_format)")
    block: str | None = None
    for i, step in enumerate(plan.steps):
        if _block(step) != block:
            block = _block(step)
            body += ["", f"# {comment_text(block)}"] if block else [""]
        nxt = plan.steps[i + 1].name if i + 1 < len(plan.steps) else None
        expr = lowering_of(step.node.op).forward(Emit(
            step.node, f"self.{module_path(step.name)}", [var[s] for s in step.inputs],
            _owned(step, readers, donors), tuple(shapes[s] for s in step.inputs)))
        last = nxt is None and plan.outputs == (step.name,)
        short = readers[step.name] == [nxt]
        target = var[step.name] = "x" if short or last else _var(step.name, taken)
        augmented = re.fullmatch(rf"{target}\.add_\(([\w.]+)\)", expr)
        if augmented:
            body.append(f"{target} += {augmented.group(1)}")
        elif expr != target:
            body.append(f"{target} = {expr}")
    body.append(f"return {', '.join(var[o] for o in plan.outputs)}")
    result = "torch.Tensor" if len(plan.outputs) == 1 else \
        f"tuple[{', '.join(['torch.Tensor'] * len(plan.outputs))}]"
    head = f"def forward(self, {var[inp.name]}: torch.Tensor) -> {result}:"
    lines = [head, *(textwrap.indent(_wrap(line, 8), "    ") for line in body)]
    return textwrap.indent("\n".join(lines), "    ").replace("    \n", "\n") + "\n"


def init_source(plan: Plan, memory_format: str) -> str:
    """``__init__`` of an exported network: containers per scope, one module per layer."""
    lines = [
        "def __init__(",
        "    self,",
        "    seed: int | None = 0,",
        f"    memory_format: torch.memory_format = torch.{memory_format},",
        ") -> None:",
        "    super().__init__()",
        "    self.memory_format = memory_format",
    ]
    made: set[str] = set()
    block: str | None = None
    for step in plan.steps:
        if step.module is None:
            continue
        if _block(step) != block:
            block = _block(step)
            lines.append("")
        parts = module_path(step.name).split(".")
        for k in range(1, len(parts)):
            prefix = ".".join(parts[:k])
            if prefix not in made:
                made.add(prefix)
                lines.append(f"    self.{prefix} = nn.Module()")
        line = _wrap(f"self.{'.'.join(parts)} = {step.module.source()}", 8)
        lines.append(textwrap.indent(line, "    "))
    lines += ["", "    if seed is not None:", "        init_weights(self, seed)"]
    return textwrap.indent("\n".join(lines), "    ").replace("    \n", "\n") + "\n"


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at top-level (unbracketed) occurrences of ``sep``."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i = i + len(sep)
            continue
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _closes_at_end(text: str, open_at: int) -> bool:
    depth = 0
    for i in range(open_at, len(text)):
        depth += text[i] in "([{"
        depth -= text[i] in ")]}"
        if depth == 0:
            return i == len(text) - 1
    return False


def _layout(expr: str, indent: int, width: int) -> str:
    """``expr`` laid out as ruff format does once it does not fit on the line."""
    pad = " " * 4
    m = re.match(r"[\w.]*[(\[]", expr)
    if m and _closes_at_end(expr, m.end() - 1):
        head, inner, close = expr[:m.end()], expr[m.end():-1], expr[-1]
        if indent + 4 + len(inner) <= width and not head.endswith("["):
            return f"{head}\n{pad}{inner}\n{close}"
        items = [_fit(a, indent + 4, width, ",") for a in _split(inner, ",")]
        return "\n".join([head, *(textwrap.indent(a + ",", pad) for a in items), close])
    terms = _split(expr, " + ")
    if len(terms) > 1:
        return "\n".join(["(", pad + terms[0], *(f"{pad}+ {t}" for t in terms[1:]), ")"])
    return expr


def _fit(expr: str, indent: int, width: int, trailer: str = "") -> str:
    return expr if indent + len(expr) + len(trailer) <= width else _layout(expr, indent, width)


def _wrap(line: str, indent: int, width: int = 100) -> str:
    """An over-long ``target = expression`` line broken the way ruff format would."""
    if indent + len(line) <= width:
        return line
    target, eq, expr = line.partition(" = ")
    if not eq:
        return line
    head = re.match(r"[\w.]*[(\[]?", expr)
    opening = f"{target} = {head.group() if head else expr}"
    if indent + len(opening) > width and indent + 4 + len(expr) <= width:
        return f"{target} = (\n    {expr}\n)"  # ruff parenthesises rather than split late
    return f"{target} = {_layout(expr, indent, width)}"


def runtime_sources(code: str) -> list[str]:
    """The runtime definitions ``code`` uses (init_weights always), in runtime.py's order."""
    from xdsl.backends.pytorch import runtime

    sources = {n: inspect.getsource(getattr(runtime, n)) for n in RUNTIME_NAMES}
    used, text = {"init_weights"}, code
    while True:  # definitions may use one another (SeparableConv2d uses PointwiseConv2d)
        found = {n for n in RUNTIME_NAMES if re.search(rf"\b{n}\b", text)} | used
        if found == used:
            break
        used, text = found, code + "".join(sources[n] for n in found)
    return [sources[n] for n in RUNTIME_NAMES if n in used]


def export_source(plan: Plan, *, source_name: str = "", params: Mapping[str, Any] | None = None,
                  memory_format: str = "channels_last") -> str:
    """A standalone PyTorch file defining the network as ``class <Name>(nn.Module)``."""
    name = class_name(plan.network)
    init, forward = init_source(plan, memory_format), forward_source(plan)
    shape = " x ".join(map(str, plan.input.shape))
    origin = f" from {doc_text(source_name)}" if source_name else ""
    plugins = plugin_modules(plan)
    needs = "needs only PyTorch" if not plugins else \
        f"needs only PyTorch and {', '.join(plugins)} (the spec's plugin)"
    header = [
        f'"""{name}: generated by xdsl{origin}.', "",
        *textwrap.wrap(f"Standalone: {needs}. The state_dict keys are the spec's layer names "
                       "(scope.layer.weight), the same as the xdsl-compiled module's, so weights "
                       "saved there load here unchanged.", 88, break_long_words=False),
    ]
    if params:
        line = doc_text(f"Parameters: {describe_settings(params)}.")
        header += ["", *textwrap.wrap(line, 96, break_long_words=False, break_on_hyphens=False)]
    header += ['"""', "", "from __future__ import annotations", "", "import torch",
               "import torch.nn.functional as F", *(f"import {name}" for name in plugins),
               "from torch import nn"]
    defs = runtime_sources(init + forward)
    doc = [
        f'    """{doc_text(plan.network)}, for {shape} inputs ("same" padding was resolved for '
        "this size).",
        "",
        "    ``seed`` fixes the initial weights (None keeps PyTorch's default init);",
        "    ``memory_format`` is the layout the input is converted to (channels_last is",
        '    faster on CPUs).',
        '    """',
    ]
    parts = ["\n".join(header), *defs,
             "\n".join([f"class {name}(nn.Module):", *doc, "", init.rstrip("\n"), "",
                        forward.rstrip("\n")])]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"
