"""The network a run trains: the spec's parameters as the data and the recipe want them.

The spec decides what it exposes: a ``classes`` parameter is set to the data's class count, an
``image_size`` parameter to ``--image-size``, a ``drop_rate`` parameter to the recipe's dropout
— each unless the user ``--set`` it. A spec without such a parameter is used as written, and the
run says what it could not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xdsl.api import Spec, parse
from xdsl.layergraph import GraphIR

from .config import DataConfig
from .errors import TrainError
from .recipes import Recipe


@dataclass
class Network:
    spec: Spec
    graph: GraphIR
    params: dict[str, Any]
    size: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name


def declared(spec: Spec) -> set[str]:
    return {p.name for p in spec.network.params}


def choose_params(spec: Spec, user: dict[str, Any], classes: int, data: DataConfig,
                  recipe: Recipe | None) -> tuple[dict[str, Any], list[str]]:
    """``--set`` values plus what the data and the recipe set where the spec lets them."""
    names, params, notes = declared(spec), dict(user), []
    if "classes" in names and "classes" not in user:
        params["classes"] = classes
    if data.image_size is not None and "image_size" in names:
        if "image_size" in user and str(user["image_size"]) != str(data.image_size):
            raise TrainError(f"--image-size {data.image_size} disagrees with --set "
                             f"image_size={user['image_size']}; give one of them")
        params["image_size"] = data.image_size
    if recipe is not None and recipe.drop_rate is not None and "drop_rate" not in user:
        if "drop_rate" in names:
            params["drop_rate"] = recipe.drop_rate
        elif recipe.drop_rate > 0:
            notes.append(f"{spec.name} has no drop_rate parameter: the {recipe.name} recipe's "
                         f"dropout {recipe.drop_rate:g} is not applied")
    return params, notes


def build(spec_ref: str, user: dict[str, Any], classes: int, data: DataConfig,
          recipe: Recipe | None) -> Network:
    """Parse the spec, set its parameters and check it fits the data (3 channels, the classes).
    """
    spec = parse(spec_ref)
    params, notes = choose_params(spec, user, classes, data, recipe)
    g = spec.build(None, **params)
    shape = g.nodes[g.graph["input"]]["node"].shape
    out = g.nodes[g.graph["output"]]["node"].shape
    if len(shape) != 3 or shape[0] != 3:
        raise TrainError(f"{spec.name} takes input {'x'.join(map(str, shape))}; the training "
                         "data are RGB images (3 x H x W)")
    if len(out) != 1 or out[0] < classes:
        hint = ("--set classes=N" if "classes" in declared(spec) else
                "give the spec a `classes` parameter for its last linear layer")
        raise TrainError(f"{spec.name} outputs {'x'.join(map(str, out))} but the data has "
                         f"{classes} classes ({hint})")
    if out[0] > classes:
        notes.append(f"{spec.name} outputs {out[0]} scores for {classes} classes")
    size = (shape[1], shape[2])
    if data.image_size is not None and "image_size" not in declared(spec):
        size = (data.image_size, data.image_size)
        if size != (shape[1], shape[2]):
            notes.append(f"{spec.name} has no image_size parameter: it runs on "
                         f"{data.image_size}x{data.image_size} images but pads as for "
                         f"{shape[1]}x{shape[2]}")
    resolved = {k: v for k, v in g.graph.get("params", {}).items()}
    return Network(spec, g, resolved, size, notes)
