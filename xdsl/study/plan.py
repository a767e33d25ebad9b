"""What a study trains, as plain data: its points, seeds, data and recipe (no torch here).

A *point* is a spec with parameters (``segments=4``); a *run* is a point trained with one seed.
Points come from sweeps (``--sweep segments=1,2,4,8,none``; several sweeps make a grid), from
several specs or variants, or from a study file (TOML). The plan is stored in the study folder
as ``study.json``: running the study again continues it, and changing what it trains is refused
(start another study folder instead).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from xdsl.train.config import DataConfig
from xdsl.train.errors import TrainError
from xdsl.train.recipes import Recipe, recipe

PLAN = "study.json"
RESULTS = "results.json"
POINTS = "points"
MAX_SEEDS = 1000
MAX_POINTS = 10_000

RUNTIME = ("device", "amp", "memory_format", "compile", "eval_weights", "threads",
           "tensorboard")
"""Train settings that say how to run, not what to compute: a continued study may change them."""


class StudyError(TrainError):
    """A study that cannot be planned, continued or read."""


@dataclass(frozen=True)
class Point:
    """A spec with parameters. ``label`` names it in tables and is its folder's name."""

    label: str
    spec: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return folder_name(self.label)


@dataclass(frozen=True)
class Run:
    """One point trained with one seed: ``points/<label>/seed<seed>`` in the study folder."""

    label: str
    seed: int

    @property
    def path(self) -> str:
        return f"{POINTS}/{folder_name(self.label)}/seed{self.seed}"


@dataclass(frozen=True)
class Study:
    """Points × seeds, trained with the same data and recipe.

    ``train`` holds the other :class:`~xdsl.train.TrainConfig` fields (device, amp, threads,
    ``max_steps``...); ``baseline`` is the label every ratio is taken to (the first point when
    ``None``).
    """

    name: str
    points: tuple[Point, ...]
    seeds: tuple[int, ...] = (0,)
    data: DataConfig = field(default_factory=DataConfig)
    recipe: Recipe = field(default_factory=Recipe)
    baseline: str | None = None
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.points:
            raise StudyError("a study needs at least one point")
        if len(self.points) > MAX_POINTS:
            raise StudyError(f"a study has at most {MAX_POINTS:,} points, got "
                             f"{len(self.points):,}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise StudyError(f"a study needs distinct seeds, got {list(self.seeds)}")
        folders: dict[str, str] = {}
        for p in self.points:
            other = folders.setdefault(p.folder.lower(), p.label)
            if other != p.label or sum(q.label == p.label for q in self.points) > 1:
                raise StudyError(f"two points would share the folder {p.folder!r} "
                                 f"({other!r} and {p.label!r}); give them distinct labels")
        if self.baseline is not None and self.baseline not in self.labels:
            raise StudyError(f"--baseline {self.baseline!r} is not a point of this study "
                             f"(points: {', '.join(self.labels)})")

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.points]

    @property
    def baseline_label(self) -> str:
        return self.baseline if self.baseline is not None else self.points[0].label

    def point(self, label: str) -> Point:
        for p in self.points:
            if p.label == label:
                return p
        raise StudyError(f"no point {label!r} in this study")

    def runs(self) -> list[Run]:
        """Every run, seed by seed: all points with the first seed come first, so a study
        stopped half-way already has one run of every point to compare."""
        return [Run(p.label, s) for s in self.seeds for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "xdsl-study", "version": 1, "name": self.name,
                "points": [{"label": p.label, "spec": p.spec, "params": dict(p.params)}
                           for p in self.points],
                "seeds": list(self.seeds),
                "data": {f.name: getattr(self.data, f.name) for f in fields(self.data)},
                "recipe": self.recipe.to_dict(), "baseline": self.baseline,
                "train": dict(self.train)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Study:
        try:
            if data.get("format") != "xdsl-study":
                raise StudyError("not an xdsl study plan (no 'format': 'xdsl-study')")
            return cls(name=str(data["name"]),
                       points=tuple(Point(str(p["label"]), str(p["spec"]),
                                          {str(k): str(v) for k, v in p["params"].items()})
                                    for p in data["points"]),
                       seeds=tuple(int(s) for s in data["seeds"]),
                       data=DataConfig(**data["data"]),
                       recipe=Recipe.from_dict(data["recipe"]),
                       baseline=data.get("baseline"), train=dict(data.get("train") or {}))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StudyError(f"a damaged study plan ({type(e).__name__}: {e})") from None

    def same_work(self, other: Study) -> bool:
        """Whether two plans train the same runs (runtime settings and baseline may differ)."""
        a, b = self.to_dict(), other.to_dict()
        for d in (a, b):
            d.pop("baseline")
            d["train"] = {k: v for k, v in d["train"].items() if k not in RUNTIME}
            d["data"].pop("workers")
        return a == b


def folder_name(label: str) -> str:
    """A label as a folder name: letters, digits and ``._=,+-`` kept, anything else ``_``."""
    name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", label).strip(".") or "_"
    return name[:120]


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``segments=1,2,4,none`` → ``("segments", ["1", "2", "4", "none"])``."""
    name, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",")]
    if not sep or not name.strip() or not all(items):
        raise StudyError(f"--sweep: expected NAME=V1,V2,..., got {text!r}")
    if len(set(items)) != len(items):
        raise StudyError(f"--sweep {name.strip()}: a value is repeated in {values!r}")
    return name.strip(), items


def spec_label(spec: str) -> str:
    """A short name for a spec reference: a file's stem, a shipped name as given."""
    if "\n" in spec:
        m = re.search(r"^\s*(?:network|variant)\s+(\w+)", spec, re.M)
        return m.group(1) if m else "spec"
    return Path(spec).name.removesuffix(".x")


def grid(specs: list[str], sweeps: list[tuple[str, list[str]]],
         params: dict[str, str] | None = None) -> list[Point]:
    """Every spec × every combination of the sweeps' values, with ``params`` in common.

    Labels name what varies: the sweeps' ``NAME=VALUE`` (joined by ``,``), prefixed by the
    spec's name when there are several specs.
    """
    if not specs:
        raise StudyError("a study needs a SPEC (or --file)")
    names = [n for n, _ in sweeps]
    if len(set(names)) != len(names):
        raise StudyError(f"--sweep names a parameter twice: {', '.join(names)}")
    common = dict(params or {})
    for name in names:
        if name in common:
            raise StudyError(f"{name} is both swept and --set")
    points = []
    for spec in specs:
        for values in itertools.product(*[v for _, v in sweeps]):
            swept = dict(zip(names, values, strict=True))
            parts = [f"{k}={v}" for k, v in swept.items()]
            if len(specs) > 1 or not parts:
                parts.insert(0, spec_label(spec))
            points.append(Point(",".join(parts), spec, {**common, **swept}))
    return points


def absolute_spec(spec: str, base: Path | None = None) -> str:
    """A spec file's absolute path (so the study does not depend on the working folder);
    shipped names and spec text are kept as they are."""
    if "\n" in spec:
        return spec
    path = (base / spec) if base is not None and not Path(spec).is_absolute() else Path(spec)
    return str(path.resolve()) if path.is_file() else spec


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A study file (TOML) as the keyword arguments of :func:`from_file`'s plan.

    ::

        name = "spectrum"
        spec = "mini_xception"          # the points' spec unless a point names its own
        seeds = 2                       # or a list: [0, 1]
        baseline = "segments=none"
        [params]                        # --set for every point
        width = 8
        [sweep]                         # a grid, as --sweep
        segments = [1, 2, 4, 8, "none"]
        [[points]]                      # and/or points one by one
        label = "mid_act=relu"
        params = { mid_act = "relu" }
        [data]                          # DataConfig fields: source = "cifar10:/data/cifar"
        shapes_train = 2000
        [recipe]                        # a preset's name and Recipe fields
        name = "imagenet"
        epochs = 10
        [train]                         # other TrainConfig fields: device, amp, threads...

    Relative spec paths are read from the study file's folder.
    """
    p = Path(path)
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise StudyError(f"cannot read {p}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise StudyError(f"{p}: not a valid TOML file ({e})") from None
    known = {"name", "spec", "specs", "seeds", "baseline", "params", "sweep", "points", "data",
             "recipe", "train"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise StudyError(f"{p}: unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (known: {', '.join(sorted(known))})")
    base = p.parent
    specs = table.get("specs") or ([table["spec"]] if "spec" in table else [])
    specs = [absolute_spec(str(s), base) for s in specs]
    common = {k: _word(v) for k, v in (table.get("params") or {}).items()}
    points: list[Point] = []
    sweep = [(str(k), [_word(v) for v in (vs if isinstance(vs, list) else [vs])])
             for k, vs in (table.get("sweep") or {}).items()]
    if sweep or (specs and not table.get("points")):
        points += grid(specs, sweep, common)
    for i, entry in enumerate(table.get("points") or []):
        if not isinstance(entry, dict):
            raise StudyError(f"{p}: points[{i}] is not a table")
        spec = absolute_spec(str(entry["spec"]), base) if "spec" in entry else \
            (specs[0] if len(specs) == 1 else None)
        if spec is None:
            raise StudyError(f"{p}: points[{i}] names no spec (and the file has not one spec)")
        own = {k: _word(v) for k, v in (entry.get("params") or {}).items()}
        label = str(entry.get("label") or ",".join(f"{k}={v}" for k, v in own.items())
                    or spec_label(spec))
        points.append(Point(label, spec, {**common, **own}))
    seeds = table.get("seeds", 1)
    data = dict(table.get("data") or {})
    recipe_fields = dict(table.get("recipe") or {})
    return {"name": str(table.get("name") or p.stem), "points": points,
            "seeds": list(range(seeds)) if isinstance(seeds, int) else list(seeds),
            "data": data, "recipe_name": str(recipe_fields.pop("name", "imagenet")),
            "recipe": recipe_fields, "baseline": table.get("baseline"),
            "train": dict(table.get("train") or {})}


def _word(value: Any) -> str:
    """A TOML value as a ``--set`` word: ``true`` → ``true``, ``4`` → ``4``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make(name: str, points: list[Point], seeds: list[int], data: dict[str, Any],
         recipe_name: str = "imagenet", recipe_fields: dict[str, Any] | None = None,
         baseline: str | None = None, train: dict[str, Any] | None = None) -> Study:
    """A :class:`Study` from plain values (``data``: DataConfig fields, ``recipe_fields``:
    overrides of the preset ``recipe_name``)."""
    if len(seeds) > MAX_SEEDS:
        raise StudyError(f"a study has at most {MAX_SEEDS} seeds")
    try:
        data_cfg = DataConfig(**data)
    except TypeError as e:
        raise StudyError(f"data: {e}") from None
    try:
        rec = recipe(recipe_name, **(recipe_fields or {}))
    except TypeError as e:
        raise StudyError(f"recipe: {e}") from None
    return Study(name=name, points=tuple(points), seeds=tuple(seeds), data=data_cfg,
                 recipe=rec, baseline=baseline, train=dict(train or {}))


def load(study_dir: str | os.PathLike[str]) -> Study:
    """The plan stored in a study folder."""
    path = Path(study_dir) / PLAN
    if not path.is_file():
        raise StudyError(f"{study_dir} is not a study folder (no {PLAN})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StudyError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise StudyError(f"{path}: not a study plan")
    return Study.from_dict(data)


def save(study_dir: str | os.PathLike[str], study: Study) -> None:
    from xdsl.train.checkpoint import write_atomic

    folder = Path(study_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / PLAN, (json.dumps(study.to_dict(), indent=2) + "\n").encode())


def settle(study_dir: str | os.PathLike[str], study: Study) -> Study:
    """The plan to run in ``study_dir``: ``study``, stored there if the folder is new; a folder
    that already holds a study must hold this one (with other runtime settings allowed)."""
    path = Path(study_dir) / PLAN
    if path.exists():
        stored = load(study_dir)
        if not stored.same_work(study):
            raise StudyError(f"{study_dir} holds another study (its {PLAN} trains other points, "
                             "seeds, data or recipe); continue it with `xdsl study --resume "
                             f"{study_dir}` or choose another --out")
        study = replace(stored, baseline=study.baseline, train=study.train)
    save(study_dir, study)
    return study
