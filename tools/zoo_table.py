"""Print the README's zoo table: every zoo entry with its counts and the length of its spec.

    python tools/zoo_table.py

One row per entry of ``specs/zoo/`` (each named as torchvision's builder): trainable parameters
and MACs at the default input size (from xdsl's graph IR, equal to torchvision's: the zoo test
checks it), the lines of the family's spec, and the lines of the torchvision file that defines
the model, counted as ``wc -l`` counts them, with their ratio. The U-Net has no torchvision
model: its row compares with nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def lines(path: Path | str) -> int:
    return Path(path).read_text(encoding="utf-8").count("\n")


def table() -> str:
    import torchvision

    import xdsl
    from xdsl.api import summarize

    rows = ["| network | family spec | trainable | MACs | spec lines | torchvision lines | "
            "ratio |", "|---|---|--:|--:|--:|--:|--:|"]
    for path in sorted((ROOT / "specs" / "zoo").glob("*.x"), key=_order):
        name = path.stem
        spec = xdsl.parse(path)
        base = Path(spec.source.path or "")
        s = summarize(spec.graph())
        tv = Path(sys.modules[getattr(torchvision.models, name).__module__].__file__ or "")
        ours, theirs = lines(base), lines(tv)
        rows.append(f"| {name} | {base.name} | {s.trainable:,} | {s.macs:,} | {ours} | "
                    f"{theirs} ({tv.name}) | {ours / theirs:.2f} |")
    unet = xdsl.parse(ROOT / "specs" / "unet.x")
    s = summarize(unet.graph())
    rows.append(f"| unet | unet.x | {s.trainable:,} | {s.macs:,} | "
                f"{lines(ROOT / 'specs' / 'unet.x')} | none | |")
    return "\n".join(rows)


def _order(path: Path) -> tuple[str, float, int]:
    """Families together, sizes in order: resnet18 < resnet50 < resnet101."""
    import re

    name = path.stem
    sizes = {"tiny": 0, "small": 1, "base": 2, "large": 3, "s": 1, "m": 2, "l": 3}
    if name.rsplit("_", 1)[-1] in sizes:
        return name.rsplit("_", 1)[0], 0.0, sizes[name.rsplit("_", 1)[-1]]
    head = re.match(r"[a-z_]*[a-z]", name)
    family = head.group() if head else name
    digits = re.findall(r"\d+", name[len(family):])
    number = float(".".join(digits[:2])) if digits else 0.0
    return family, number / 1000 if name.endswith("mf") else number, int(name.endswith("_bn"))


if __name__ == "__main__":
    print(table())
