"""Plan → a live ``nn.Module``: generated forward, modules built on the meta device, seeded init.

Modules are created on the meta device and materialised once, so building Xception does not pay
for PyTorch's default initialisation before xdsl's own (it is faster than timm's
``create_model``, see benchmarks/bench_forward.py).
"""

from __future__ import annotations

import importlib
import itertools
import linecache
import os
import sys
import textwrap
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from xdsl.backends.pytorch import runtime
from xdsl.backends.pytorch.codegen import (
    RUNTIME_NAMES,
    class_name,
    export_source,
    forward_source,
    module_path,
)
from xdsl.backends.pytorch.lowering import Plan, lower

from xdsl.api import Spec, check_keywords, old_mapping, options_of, parse
from xdsl.graph import Limits
from xdsl.layergraph import GraphIR, LayerGraph, is_graph
from xdsl.plugins import PluginError

Init = Literal["kaiming", "torch"]
MemoryFormat = Literal["auto", "channels_last", "contiguous"]

NAMESPACE: dict[str, Any] = {"torch": torch, "nn": nn, "F": F,
                             **{n: getattr(runtime, n) for n in RUNTIME_NAMES}}
"""Names generated code may use: the same ones the exported file imports or defines."""

_counter = itertools.count(1)


class CompiledNetwork(nn.Module):
    """Base class of compiled networks; each network's subclass adds its generated ``forward``.

    ``plan`` is the lowered graph the module was built from and ``graph`` the xdsl graph IR;
    ``memory_format`` is the layout ``forward`` converts its input to.
    """

    forward_source: str = ""
    inplace: bool = True

    def __init__(self, plan: Plan, graph: GraphIR | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        super().__init__()
        self.plan = plan
        # ``model.graph`` is the networkx graph (``xdsl.graph()``'s) whichever the module was
        # built from: torch's import dwarfs networkx's here
        self.graph = graph.to_networkx() if isinstance(graph, LayerGraph) else graph
        self.memory_format = memory_format

    def __reduce__(self) -> tuple[Any, ...]:
        # The class is generated, so pickle cannot import it: regenerate it from the plan and
        # restore the instance as the default reduction would (torch.save(model), deepcopy).
        # torch.save cannot pickle a torch.memory_format: it travels by name.
        fmt = str(self.memory_format).removeprefix("torch.")
        return (_blank, (self.plan, self.inplace), dict(self.__dict__, memory_format=fmt))

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("memory_format"), str):
            state = dict(state, memory_format=getattr(torch, state["memory_format"]))
        super().__setstate__(state)


def _blank(plan: Plan, inplace: bool = True) -> CompiledNetwork:
    cls = network_class(plan, inplace)
    return cls.__new__(cls)


def network_class(plan: Plan, inplace: bool = True) -> type[CompiledNetwork]:
    """A ``CompiledNetwork`` subclass whose ``forward`` is compiled from generated source.

    The source is made from the plan (numbers and sanitised names), never from spec text; it is
    registered with ``linecache`` so tracebacks show the generated lines, as torch.fx does.
    """
    source = forward_source(plan, inplace)
    code = textwrap.dedent(source)
    filename = f"<xdsl:{plan.network}#{next(_counter)}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = dict(NAMESPACE)
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - generated code, see above
    return type(class_name(plan.network), (CompiledNetwork,),
                {"forward": namespace["forward"], "forward_source": source,
                 "inplace": inplace, "__module__": __name__})


def _attach(root: nn.Module, path: str, module: nn.Module) -> None:
    *scopes, leaf = path.split(".")
    parent = root
    for name in scopes:
        child = getattr(parent, name, None)
        if child is None:
            child = nn.Module()
            parent.add_module(name, child)
        parent = child
    if leaf in parent._modules:
        raise RuntimeError(f"two layers map to the module path {path!r}")
    parent.add_module(leaf, module)


def instantiate(plan: Plan, graph: GraphIR | None = None,
                memory_format: torch.memory_format = torch.contiguous_format,
                device: str | torch.device = "cpu", inplace: bool = True) -> CompiledNetwork:
    """The module for ``plan`` with allocated but *uninitialised* weights (a plugin's modules
    keep the values their constructor gave their own parameters and buffers)."""
    model = network_class(plan, inplace)(plan, graph, memory_format)
    namespace = {**NAMESPACE, **plugin_namespace(plan)}
    plugin_states: dict[str, dict[str, torch.Tensor]] = {}
    for step in plan.steps:
        if step.module is None:
            continue
        path = module_path(step.name)
        if step.module.fn.split(".")[0] in NAMESPACE:
            with torch.device("meta"):
                _attach(model, path, step.module.build(namespace))
        else:  # a plugin's module: built as its author wrote it, its state kept
            try:
                module = step.module.build(namespace)
            except Exception as e:
                raise PluginError(f"the module of plugin op `{step.node.op}` could not be "
                                  f"built: {step.module.source()} raised {type(e).__name__}: "
                                  f"{e}") from None
            plugin_states[path] = module.state_dict()
            with torch.device("meta"):
                _attach(model, path, module.to("meta"))
    model = model.to_empty(device=device)
    for path, values in plugin_states.items():
        model.get_submodule(path).load_state_dict(values)
    return model


def plugin_namespace(plan: Plan) -> dict[str, Any]:
    """The top-level packages of the plugin modules the plan builds (imported here)."""
    from xdsl.backends.pytorch.lowering import plugin_modules

    spaces: dict[str, Any] = {}
    for name in plugin_modules(plan):
        try:
            importlib.import_module(name)
        except Exception as e:
            raise PluginError(f"plugin module `{name}` cannot be imported: "
                              f"{type(e).__name__}: {e}") from None
        top = name.split(".")[0]
        spaces[top] = sys.modules[top]
    return spaces


@torch.no_grad()
def initialise(model: nn.Module, seed: int = 0, init: Init = "kaiming") -> None:
    """``kaiming``: :func:`runtime.init_weights`; ``torch``: each layer's PyTorch default,
    drawn from a generator seeded with ``seed`` (the global RNG state is left as it was)."""
    if init == "kaiming":
        runtime.init_weights(model, seed)
        return
    if init != "torch":
        raise ValueError(f"init must be 'kaiming' or 'torch', got {init!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):  # may lack weight or bias
                m.reset_running_stats()
                if m.weight is not None:
                    nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif hasattr(m, "reset_parameters") and next(m.parameters(False), None) is not None:
                m.reset_parameters()


def pick_memory_format(choice: MemoryFormat, device: torch.device,
                       plan: Plan) -> torch.memory_format:
    """``auto``: channels_last on CPUs (with 1×1 convolutions as matrix products, about 1.45×
    eval and 1.3× training for Xception, benchmarks/bench_forward.py) and on CUDA unless the
    network has depthwise convolutions
    (memory-bound there: timm's GPU benchmarks show no gain for Xception, a gain for
    Inception V3)."""
    if choice == "channels_last":
        return torch.channels_last
    if choice == "contiguous":
        return torch.contiguous_format
    if choice != "auto":
        raise ValueError(f"memory_format must be auto, channels_last or contiguous, got {choice!r}")
    if len(plan.input.shape) != 3:
        return torch.contiguous_format
    depthwise = any(s.node.op in ("sepconv", "dwconv") for s in plan.steps)
    if device.type == "cpu" or (device.type == "cuda" and not depthwise):
        return torch.channels_last
    return torch.contiguous_format


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_graph(spec: str | os.PathLike[str] | Spec | GraphIR,
             params: Mapping[str, Any] | None = None, limits: Limits | None = None
             ) -> GraphIR:
    if is_graph(spec):
        if params:
            raise ValueError("spec parameters apply to a spec, not to a built graph: set them "
                             "with xdsl.graph(spec, ...)")
        return spec
    return parse(spec).build(limits, **dict(params or {}))


def compile_network(spec: str | os.PathLike[str] | Spec | GraphIR, /, *, seed: int = 0,
                    init: Init = "kaiming", optimize: bool = False,
                    memory_format: MemoryFormat = "auto", device: str | torch.device = "cpu",
                    inplace: bool = True, limits: Limits | None = None,
                    weights: Any = None, **params: Any) -> CompiledNetwork:
    """Spec (path, shipped name, text, parsed ``Spec``) or graph IR → initialised module.

    Keywords other than the options set the spec's parameters: ``compile("xception",
    classes=10, seed=1)``; a spec parameter named like an option is set on the graph,
    ``compile(xdsl.graph(spec, seed=3), seed=1)``. ``seed`` and ``init`` fix the initial weights
    (see :func:`initialise`). ``memory_format`` is the layout ``forward`` converts inputs to;
    ``auto`` picks it per device (:func:`pick_memory_format`). ``optimize`` returns the eval-only
    module of :func:`xdsl.backends.pytorch.inference.optimize` (batch norm folded,
    channels_last). ``inplace=False`` keeps every op out of place (for full backward hooks,
    see :mod:`.codegen`). ``weights`` (a module, a state_dict or a file of the same network,
    e.g. torchvision's) replaces the initial weights by :func:`.weights.transplant`. The
    module is returned in training mode (eval mode when optimised).
    """
    params = old_mapping(params, "params", "compile")
    if not is_graph(spec):
        spec = parse(spec)
        check_keywords(spec, params, "compile", options_of(compile_network))
    g = to_graph(spec, params, limits)
    plan = lower(g)
    dev = resolve_device(device)
    fmt = pick_memory_format(memory_format, dev, plan)
    model = instantiate(plan, g, fmt, inplace=inplace)
    initialise(model, seed, init)
    if weights is not None:
        from xdsl.backends.pytorch.weights import transplant

        transplant(model, weights)
    model = model.to(dev)
    if fmt == torch.channels_last and dev.type == "cuda":
        # cuDNN wants the weights in the input's layout; CPU convolutions do not care
        # (measured equal), so there the parameters stay contiguous, as saved.
        model = model.to(memory_format=fmt)
    if optimize:
        from xdsl.backends.pytorch.inference import optimize as run_optimize

        model = run_optimize(model, fmt)
    return model


def load(spec: str | os.PathLike[str] | Spec, /, **params: Any) -> CompiledNetwork:
    """The module of a spec (path, shipped name, text) with its parameters set by keyword, with
    the default options of :func:`compile_network`."""
    return compile_network(spec, **params)


def export_python(target: str | os.PathLike[str] | Spec | GraphIR | CompiledNetwork, *,
                  params: Mapping[str, Any] | None = None, source_name: str = "",
                  limits: Limits | None = None) -> str:
    """The standalone PyTorch source (``--export-py``) of a spec, a graph or a compiled module.

    From a module, the file reproduces that module's plan (an optimised module exports with its
    batch norms folded). The exported class defaults to channels_last, the CPU choice.
    """
    if isinstance(target, CompiledNetwork):
        plan, g = target.plan, target.graph
    else:
        g = to_graph(target, params, limits)
        plan = lower(g)
    if not source_name and isinstance(target, str | os.PathLike) and "\n" not in str(target):
        source_name = str(target)
    fmt = "channels_last" if len(plan.input.shape) == 3 else "contiguous_format"
    values = g.graph.get("params", {}) if g is not None else {}
    return export_source(plan, source_name=source_name, params=values, memory_format=fmt)
