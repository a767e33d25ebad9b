"""PyTorch backend: graph IR → ``torch.nn.Module`` with a generated, straight-line ``forward``.

Pipeline: :func:`~.lowering.lower` turns the graph into a plan (one entry of the op table
``LOWERINGS`` per layer), :mod:`.codegen` writes ``forward`` as Python source, :mod:`.build`
creates the modules and initialises them, :mod:`.inference` folds batch norms for inference.

state_dict keys
    A layer's module sits at its graph-IR name: flows, block calls (``down1``), ``residual{k}``,
    ``concat{k}`` / ``add{k}`` merges with ``branch{i}`` (or the branch's name) and ``shortcut``
    are nested modules, and a layer is ``<op><k>`` within its scope. So keys read
    ``entry.conv1.weight``, ``entry.down1.bn1.running_mean``,
    ``entry.down1.shortcut.conv1.weight``, ``middle.residual3.sepconv2.pointwise.weight``.
    A separable convolution holds ``depthwise`` and ``pointwise``; batch norm, linear and conv
    layers use PyTorch's own parameter names. Layers without weights (activations, pooling,
    add, concat, flatten, dropout) are calls in ``forward`` and have no key. A scope name that
    is a Python keyword or an ``nn.Module`` attribute (``training``, ``eval``, ...) gets a
    trailing underscore. Keys depend only on the spec, never on the torch version.

Options (``compile`` / ``xdsl compile``)
    ``seed`` (0) and ``init``: ``kaiming`` (convolutions kaiming-normal fan_out, batch norm 1/0,
    linear normal(0, 0.01), biases 0) or ``torch`` (PyTorch's defaults, seeded).
    ``memory_format``: ``auto`` converts inputs to channels_last on CPUs (and on CUDA for
    networks without depthwise convolutions), where it is faster; ``channels_last`` or
    ``contiguous`` force it. ``optimize``: eval-only module with batch norm folded into the
    preceding convolution, channels_last. ``device``: ``cpu``, ``cuda`` or ``auto``.

Size: ``same`` padding is resolved for the spec's input size (TensorFlow's rule, which can pad
asymmetrically); other input sizes run but pad as for the spec's size.

This package imports torch lazily: ``xdsl check`` loads the command module without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "compile": ("build", "compile_network"),
    "compile_network": ("build", "compile_network"),
    "load": ("build", "load"),
    "export_python": ("build", "export_python"),
    "CompiledNetwork": ("build", "CompiledNetwork"),
    "optimize": ("inference", "optimize"),
    "lower": ("lowering", "lower"),
    "LOWERINGS": ("lowering", "LOWERINGS"),
    "transplant": ("weights", "transplant"),
    "WeightsError": ("weights", "WeightsError"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
