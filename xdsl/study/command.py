"""``xdsl study``: train a sweep of variants with the same data and recipe, and tabulate them.

torch is imported when runs train, not when the command loads (``xdsl --help`` lists it) or
when ``--table`` re-prints a finished study.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from xdsl.options import SEED, check_output

from .plan import MAX_SEEDS, Study, StudyError

SHORT_HELP = "Train a sweep of variants and compare them in one table."
EXIT_INTERRUPTED = 130

RUNTIME_OPTIONS = ("device", "amp", "memory_format", "eval_weights", "tensorboard", "threads")
"""Options copied from ``xdsl train`` that say how to run (a continued study may change them)."""


def _handle_errors(f: Any) -> Any:
    from xdsl.train.command import handle_errors

    return handle_errors(f)


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


@click.command(short_help=SHORT_HELP)
@click.argument("specs", nargs=-1, metavar="[SPEC]...")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=V1,V2,...",
              help="Train one point per value (repeatable: several sweeps make a grid).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="A network parameter every point shares (repeatable).")
@click.option("--file", "study_file", type=click.Path(exists=True, dir_okay=False),
              help="A study file (TOML) naming the points, the data, the recipe and the seeds; "
                   "options given here override its data and recipe fields.")
@click.option("--seeds", type=click.IntRange(1, MAX_SEEDS), default=None,
              help="Runs per point, with seeds --seed, --seed + 1, ...  [default: 1]")
@click.option("--seed", "first_seed", type=SEED, default=0, show_default=True,
              help="The first seed.")
@click.option("--name", help="The study's name.  [default: the study file's or the spec's]")
@click.option("--out", type=click.Path(file_okay=False),
              help="The study folder; running the same study into it again continues it.  "
                   "[default: studies/<name>]")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue the study in this folder (its stored plan).")
@click.option("--table", "table_dir", type=click.Path(exists=True, file_okay=False),
              help="Print the table of the study in this folder and exit (trains nothing).")
@click.option("--baseline", metavar="LABEL",
              help="The point every ratio is taken to.  [default: the first point]")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "md", "latex", "json",
                                                    "csv"]),
              default="table", show_default=True, help="Format of the printed table.")
@click.option("--executor", type=click.Choice(["auto", "inline", "local", "slurm", "debug"]),
              default="auto", show_default=True,
              help="inline: the runs one after the other in this process; local: submitit's "
                   "local executor, one job per GPU; slurm: one SLURM job per run (submitit); "
                   "debug: submitit's debug executor; auto: local on a machine with several "
                   "GPUs, else inline.")
@click.option("--jobs", type=click.IntRange(1, 4096),
              help="Parallel jobs of the local executor.  [one per visible GPU]")
@click.option("--timeout-min", type=click.IntRange(1), default=24 * 60, show_default=True,
              help="Time limit of each submitit job, in minutes.")
@click.option("--slurm-partition", help="SLURM partition of the jobs.")
@click.option("--executor-param", "executor_params", multiple=True, metavar="KEY=VALUE",
              help="Another submitit parameter (slurm_account=..., cpus_per_task=8; "
                   "repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the table, not the runs' lines.")
def study_command(specs: tuple[str, ...], sweeps: tuple[str, ...], sets: tuple[str, ...],
                  study_file: str | None, seeds: int | None, first_seed: int, name: str | None,
                  out: str | None, resume_dir: str | None, table_dir: str | None,
                  baseline: str | None, fmt: str, executor: str, jobs: int | None,
                  timeout_min: int, slurm_partition: str | None,
                  executor_params: tuple[str, ...], quiet: bool, **kw: Any) -> None:
    """Train every point of a study with the same data and recipe, each with --seeds seeds, and
    print one table: parameters, MACs, best and final top-1/top-5, images/s and wall time, each
    with its ratio to the baseline point, mean ± standard deviation over seeds.

    Points come from SPEC and --sweep (`xdsl study mini_xception --sweep segments=1,2,4,none`),
    from several SPECs (variants), or from --file study.toml. Each run is an ordinary run folder,
    OUT/points/LABEL/seedK (`xdsl train --resume`, `xdsl evaluate` and TensorBoard work on it).
    A study stopped at any moment continues with `xdsl study --resume OUT` (or the same command
    again): finished runs are skipped and a partial run resumes exactly from its checkpoint.
    OUT/results.json and results.{md,tex,csv,txt} hold the table.

    Data, recipe and device options are those of `xdsl train`.
    """
    _run(click.get_current_context(), specs, sweeps, sets, study_file, seeds, first_seed, name,
         out, resume_dir, table_dir, baseline, fmt, executor, jobs, timeout_min,
         slurm_partition, executor_params, quiet, kw)


@_handle_errors
def _run(ctx: click.Context, specs: tuple[str, ...], sweeps: tuple[str, ...],
         sets: tuple[str, ...], study_file: str | None, seeds: int | None, first_seed: int,
         name: str | None, out: str | None, resume_dir: str | None, table_dir: str | None,
         baseline: str | None, fmt: str, executor: str, jobs: int | None, timeout_min: int,
         slurm_partition: str | None, executor_params: tuple[str, ...], quiet: bool,
         kw: dict[str, Any]) -> None:
    from . import plan, results

    try:
        if table_dir is not None:
            stored = plan.load(table_dir)
            if baseline is not None:
                stored = _with_baseline(stored, baseline)
            click.echo(results.render(results.collect(table_dir, stored), fmt))
            return
        study, folder = _plan(ctx, specs, sweeps, sets, study_file, seeds, first_seed, name,
                              out, resume_dir, baseline, kw)
        _check_points(study)
        study = plan.settle(folder, study)
        params = _executor_params(executor_params, timeout_min, slurm_partition)
        _train(study, folder, executor, jobs, params, quiet)
        table = results.write(folder, study)
        for ext, form in (("txt", "table"), ("md", "markdown"), ("tex", "latex"),
                          ("csv", "csv")):
            (Path(folder) / f"results.{ext}").write_text(results.render(table, form) + "\n",
                                                         encoding="utf-8")
        click.echo(results.render(table, fmt))
    except StudyError as e:
        raise click.ClickException(str(e)) from None


def _with_baseline(study: Study, baseline: str) -> Study:
    return replace(study, baseline=baseline)


def _plan(ctx: click.Context, specs: tuple[str, ...], sweeps: tuple[str, ...],
          sets: tuple[str, ...], study_file: str | None, seeds: int | None, first_seed: int,
          name: str | None, out: str | None, resume_dir: str | None, baseline: str | None,
          kw: dict[str, Any]) -> tuple[Study, str]:
    from xdsl.train.command import DATA_OPTIONS, RECIPE_OPTIONS, _parse_sets

    from . import plan

    runtime = {k: kw[k] for k in RUNTIME_OPTIONS if k in kw}
    runtime = {k: v for k, v in runtime.items() if v is not None}
    if resume_dir is not None:
        fixed = [name for name in (*DATA_OPTIONS, *RECIPE_OPTIONS, "recipe_name", "sets",
                                   "seeds", "first_seed", "name", "out")
                 if _given(ctx, name)]
        if specs or sweeps or study_file or fixed:
            opts = {p.name: p.opts[0] for p in ctx.command.params}
            named = ", ".join(opts[n] for n in fixed) or "SPEC or --sweep"
            raise click.UsageError("--resume continues a stored study with its points, data, "
                                   f"recipe and seeds; it takes no {named}")
        stored = plan.load(resume_dir)
        given = {k: v for k, v in runtime.items() if _given(ctx, k)}
        stored = replace(stored, train={**stored.train, **given})
        if baseline is not None:
            stored = _with_baseline(stored, baseline)
        return stored, resume_dir
    data = {field: kw[opt] for opt, field in DATA_OPTIONS.items()
            if kw.get(opt) is not None}
    recipe_fields = {field: kw[opt] for opt, field in RECIPE_OPTIONS.items()
                     if kw.get(opt) is not None}
    recipe_name = kw.get("recipe_name") or "imagenet"
    common = _parse_sets(sets)
    if study_file is not None:
        if specs or sweeps:
            raise click.UsageError("give SPEC and --sweep, or --file, not both")
        spec = plan.read_file(study_file)
        points = spec["points"]
        if common:
            points = [replace(p, params={**p.params, **common}) for p in points]
        data = {**spec["data"], **data}
        recipe_fields = {**spec["recipe"], **recipe_fields}
        if not _given(ctx, "recipe_name"):
            recipe_name = spec["recipe_name"]
        seed_list = spec["seeds"] if seeds is None else \
            list(range(first_seed, first_seed + seeds))
        name = name or spec["name"]
        baseline = baseline if baseline is not None else spec["baseline"]
        train = {**runtime, **spec["train"],
                 **{k: v for k, v in runtime.items() if _given(ctx, k)}}
    else:
        if not specs:
            raise click.UsageError("give a SPEC (with --sweep), several SPECs, --file, "
                                   "--resume DIR or --table DIR")
        parsed = [plan.parse_sweep(s) for s in sweeps]
        points = plan.grid([plan.absolute_spec(s) for s in specs], parsed, common)
        seed_list = list(range(first_seed, first_seed + (seeds or 1)))
        name = name or "-".join([plan.spec_label(specs[0]), *(n for n, _ in parsed)])
        train = runtime
    folder = out or str(Path("studies") / plan.folder_name(name))
    check_output(folder, "--out", folder=True)
    study = plan.make(name, points, seed_list, data, recipe_name, recipe_fields, baseline, train)
    return study, folder


def _check_points(study: Study) -> None:
    """Every point's spec reads and takes its parameters (before any run starts)."""
    from xdsl.api import parse

    for point in study.points:
        parse(point.spec).build(None, **point.params)


def _executor_params(items: tuple[str, ...], timeout_min: int, partition: str | None
                     ) -> dict[str, Any]:
    from xdsl.cli import _parse_sets

    out: dict[str, Any] = {"timeout_min": timeout_min}
    if partition:
        out["slurm_partition"] = partition
    for key, value in _parse_sets(items).items():
        out[key] = int(value) if value.isdigit() else value
    return out


def _train(study: Study, folder: str, executor: str, jobs: int | None, params: dict[str, Any],
           quiet: bool) -> None:
    from xdsl.train.errors import Interrupted

    from . import results, run

    log = (lambda _: None) if quiet else (lambda s: click.echo(s))
    device = str(study.train.get("device", "auto"))
    chosen = run.choose_executor(executor, run._gpu_count() if executor == "auto" else 0,
                                 device)
    total = len(study.runs())
    log(f"xdsl study {study.name}: {len(study.points)} points x {len(study.seeds)} seeds = "
        f"{total} runs in {folder} ({chosen})")
    try:
        run.run_study(folder, study, chosen, jobs, params, log,
                      on_run=lambda: results.write(folder, study))
    except Interrupted as e:
        results.write(folder, study)
        click.echo(f"interrupted: {e}; continue the study with `xdsl study --resume {folder}`",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)


def _copy_train_options() -> None:
    """The data, recipe and device options of ``xdsl train``, the same objects' copies."""
    from xdsl.train.command import DATA_OPTIONS, RECIPE_OPTIONS, train_command

    wanted = {*DATA_OPTIONS, *RECIPE_OPTIONS, "recipe_name", *RUNTIME_OPTIONS}
    for p in train_command.params:
        if p.name in wanted:
            option = copy.copy(p)
            if p.name in RUNTIME_OPTIONS and isinstance(option, click.Option):
                option.default = None if p.name == "tensorboard" else option.default
            if p.name == "recipe_name" and isinstance(option, click.Option):
                option.default = None
                option.show_default = False
                option.help = (option.help or "") + "  [default: imagenet]"
            study_command.params.append(option)


_copy_train_options()
