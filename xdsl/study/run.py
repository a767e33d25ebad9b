"""Training a study's runs: in this process, one per GPU, or as jobs through submitit.

Every run is an ordinary ``xdsl train`` run folder, ``STUDY/points/<label>/seed<k>/``, trained
through :func:`xdsl.train.train`, so ``xdsl train --resume``, ``xdsl evaluate`` and TensorBoard
work on it. A run is *done* when its ``summary.json`` says ``completed``; a run with a
``last.pt`` but not done resumes from it exactly (the same steps as a run never stopped); any
other run starts afresh. Running a study again therefore skips the finished runs and continues
the partial one.

Parallelism uses launchers, not a scheduler of our own: on a machine with several GPUs the
pending runs are dealt to the GPUs (:func:`assign`, a pure function) and each GPU's share runs
as one job of submitit's ``LocalExecutor`` with that GPU visible; on a cluster each run is one
SLURM job submitted with submitit (requeued on preemption, resuming from its checkpoint).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from xdsl.train.config import TrainConfig
from xdsl.train.errors import Interrupted

from .plan import Run, Study, StudyError, load

Log = Callable[[str], None]
T = TypeVar("T")

SESSIONS = "study_sessions.jsonl"
"""Per run folder: one line per session the study ran it (wall seconds, steps before/after)."""

EXECUTORS = ("auto", "inline", "local", "slurm", "debug")


def run_dir(study_dir: str | os.PathLike[str], run: Run) -> Path:
    return Path(study_dir) / run.path


def state(study_dir: str | os.PathLike[str], run: Run) -> str:
    """``done`` (its summary says completed), ``partial`` (a checkpoint to resume) or ``new``."""
    folder = run_dir(study_dir, run)
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            if json.loads(summary.read_text(encoding="utf-8")).get("status") == "completed":
                return "done"
        except (OSError, ValueError, AttributeError):
            pass
    return "partial" if (folder / "last.pt").is_file() else "new"


def pending(study_dir: str | os.PathLike[str], study: Study) -> list[Run]:
    return [r for r in study.runs() if state(study_dir, r) != "done"]


def config(study_dir: str | os.PathLike[str], study: Study, run: Run) -> TrainConfig:
    """The run's :class:`TrainConfig`: a new run, or the resumption of its checkpoint."""
    folder = run_dir(study_dir, run)
    known = {f.name for f in fields(TrainConfig)}
    extra = {k: v for k, v in study.train.items() if k in known and k not in (
        "spec", "params", "data", "recipe", "run_dir", "seed", "resume", "max_steps")}
    extra.setdefault("progress", False)
    extra.setdefault("threads", "auto")
    if state(study_dir, run) == "partial":
        return TrainConfig(resume=str(folder), **extra)
    point = study.point(run.label)
    return TrainConfig(spec=point.spec, params=dict(point.params), data=study.data,
                       recipe=study.recipe, run_dir=str(folder), seed=run.seed, **extra)


def train_run(study_dir: str | os.PathLike[str], run: Run, study: Study | None = None,
              log: Log | None = None) -> str:
    """Train (or finish) one run; returns its state before: ``done`` (skipped), ``partial``
    (resumed) or ``new``. The session's wall time is appended to the run's
    :data:`SESSIONS` file, also when the run stops with an error or Ctrl-C."""
    from xdsl.train import loop  # looked up when called: tests wrap loop.train

    study = study or load(study_dir)
    before = state(study_dir, run)
    if before == "done":
        return before
    folder = run_dir(study_dir, run)
    if before == "new":
        _clear(folder)
    cfg = config(study_dir, study, run)
    steps = _steps(folder)
    started = time.perf_counter()
    status = "error"
    try:
        summary = loop.train(cfg, log=log)
        status = summary.status
    except (Interrupted, KeyboardInterrupt):
        status = "interrupted"
        raise
    finally:
        if folder.is_dir():
            line = {"wall_s": time.perf_counter() - started, "status": status,
                    "from_step": steps, "to_step": _steps(folder)}
            with open(folder / SESSIONS, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
    return before


def _steps(folder: Path) -> int:
    """The step of the run's latest metrics row (0 before its first epoch ends)."""
    from xdsl.train.metrics import read

    rows = read(folder)
    return int(rows[-1]["step"]) if rows else 0


def _clear(folder: Path) -> None:
    """What a run killed before its first checkpoint left: metrics rows, logs, a summary."""
    for name in ("metrics.jsonl", "metrics.csv", "summary.json", SESSIONS):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "tb", ignore_errors=True)


def run_lane(study_dir: str, runs: Sequence[tuple[str, int]]) -> list[str]:
    """Train ``runs`` (label, seed) one after the other: what one job or one GPU does."""
    study = load(study_dir)
    out = []
    for label, seed in runs:
        run = Run(label, seed)
        print(f"xdsl study: {run.path}", flush=True)
        out.append(train_run(study_dir, run, study, log=lambda s: print(s, flush=True)))
    return out


# -- devices and executors ---------------------------------------------------------------------

def visible_gpus(env: str | None, count: int) -> list[int]:
    """The GPUs this process may use, as the indices a child process is given in
    ``CUDA_VISIBLE_DEVICES``: ``0 ... count-1`` when the variable is unset, else its entries
    (the parent's own numbering, which children inherit) — only integer entries can be dealt."""
    if env is None:
        return list(range(count))
    entries = [e.strip() for e in env.split(",") if e.strip()]
    out = []
    for e in entries:
        if not e.isdigit():
            raise StudyError(f"CUDA_VISIBLE_DEVICES={env}: only GPU indices can be dealt to "
                             f"runs, not {e!r} (name the GPUs by index)")
        out.append(int(e))
    return out[:count] if count < len(out) else out


def assign(runs: Sequence[T], devices: Sequence[Any]) -> list[tuple[Any, list[T]]]:
    """Deal ``runs`` to ``devices`` in turn: device ``i`` gets runs ``i, i + n, i + 2n...`` (in
    the study's order, seed by seed), so each device trains one run at a time and the devices
    finish within one run of each other. Devices left without a run are left out."""
    if not devices:
        raise StudyError("no device to run on")
    lanes: list[tuple[Any, list[T]]] = [(d, []) for d in devices]
    for i, run in enumerate(runs):
        lanes[i % len(devices)][1].append(run)
    return [(d, rs) for d, rs in lanes if rs]


def choose_executor(executor: str, gpus: int, device: str) -> str:
    """``auto``: one job per GPU (submitit's local executor) when this machine has several
    GPUs and the runs may use them, else every run in this process."""
    if executor != "auto":
        return executor
    return "local" if gpus > 1 and device != "cpu" else "inline"


def run_study(study_dir: str | os.PathLike[str], study: Study, executor: str = "inline",
              jobs: int | None = None, executor_params: dict[str, Any] | None = None,
              log: Log = print, on_run: Callable[[], None] | None = None) -> list[Run]:
    """Train every pending run of ``study``; returns the runs trained (all now done).

    ``executor``: ``inline`` (here, one after the other), ``local`` (submitit's
    LocalExecutor: ``jobs`` processes, default one per visible GPU, each with its own GPU),
    ``slurm`` (one SLURM job per run through submitit), ``debug`` (submitit's DebugExecutor,
    in this process: what tests use). ``on_run`` is called after each inline run.
    """
    todo = pending(study_dir, study)
    done = len(study.runs()) - len(todo)
    if done:
        log(f"xdsl study: {done} of {len(study.runs())} runs already done")
    if not todo:
        return []
    if executor == "inline":
        for i, run in enumerate(todo, 1):
            what = {"partial": "resuming", "new": "training"}[state(study_dir, run)]
            log(f"[{done + i}/{len(study.runs())}] {what} {run.path}")
            train_run(study_dir, run, study, log=lambda s: log(f"    {s}"))
            if on_run is not None:
                on_run()
        return todo
    _submit(Path(study_dir), todo, executor, jobs, executor_params or {}, log)
    left = pending(study_dir, study)
    if left:
        raise StudyError(f"{len(left)} runs did not complete (first: {left[0].path}); see the "
                         f"job logs under {Path(study_dir) / 'submitit'}")
    return todo


class _StandardStream(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to ``sys.stdout`` or ``sys.stderr`` as they are when it writes."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return getattr(sys, self._name)

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _import_submitit() -> Any:
    """submitit, its log handlers writing to the standard streams of the moment: on import it
    binds them to the streams of that moment, which a caller may close (click's test runner
    does), and a later log line then fails."""
    import submitit

    logger = logging.getLogger("submitit")
    for handler in list(logger.handlers):
        stream = getattr(handler, "stream", None)
        name = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}.get(id(stream))
        if type(handler) is logging.StreamHandler and name:
            fresh = _StandardStream(name)
            fresh.setLevel(handler.level)
            fresh.setFormatter(handler.formatter)
            logger.removeHandler(handler)
            logger.addHandler(fresh)
    return submitit


def _submit(study_dir: Path, todo: list[Run], executor: str, jobs: int | None,
            params: dict[str, Any], log: Log) -> None:
    try:
        submitit = _import_submitit()
    except ImportError:
        raise StudyError(f"--executor {executor} needs submitit: pip install "
                         "'xdsl-nets[study]'") from None
    folder = study_dir / "submitit"
    timeout = params.pop("timeout_min", 24 * 60)
    submitted: list[Any] = []
    if executor == "slurm":
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        ex.update_parameters(timeout_min=timeout, gpus_per_node=params.pop("gpus_per_node", 1),
                             tasks_per_node=1, nodes=1, name="xdsl-study", **params)
        with ex.batch():
            for run in todo:
                submitted.append(ex.submit(RunJob(), str(study_dir), [(run.label, run.seed)]))
    else:
        if executor == "local":
            ex: Any = submitit.LocalExecutor(folder=folder)
        elif executor == "debug":
            ex = submitit.DebugExecutor(folder=folder)
        else:
            raise StudyError(f"unknown executor {executor!r}; executors: {', '.join(EXECUTORS)}")
        gpus = _gpu_count() if executor == "local" else 0
        devices: list[Any] = visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), gpus)
        if jobs is not None:
            devices = devices[:jobs] if devices else [None] * jobs
        devices = devices or [None]
        for device, runs in assign(todo, devices):
            gpu = {"gpus_per_node": 1, "visible_gpus": (device,)} if device is not None else {}
            if executor == "local":
                ex.update_parameters(timeout_min=timeout, **gpu, **params)
            submitted.append(ex.submit(run_lane, str(study_dir),
                                       [(r.label, r.seed) for r in runs]))
            where = f"GPU {device}" if device is not None else "the CPUs"
            log(f"xdsl study: job {submitted[-1].job_id}: {len(runs)} runs on {where}")
    for job in submitted:
        job.result()  # raises the job's error


def _gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class RunJob:
    """A SLURM job's callable: its runs, requeued with the same arguments when SLURM preempts
    or times the job out (submitit's checkpointing); the requeued job resumes the runs from
    their checkpoints."""

    def __call__(self, study_dir: str, runs: Sequence[tuple[str, int]]) -> list[str]:
        return run_lane(study_dir, runs)

    def checkpoint(self, study_dir: str, runs: Sequence[tuple[str, int]]) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, study_dir, runs)


__all__ = ["EXECUTORS", "RunJob", "assign", "choose_executor", "config", "pending", "run_dir",
           "run_lane", "run_study", "state", "train_run", "visible_gpus"]
