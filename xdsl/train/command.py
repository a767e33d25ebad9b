"""``xdsl train`` and ``xdsl evaluate``.

torch is imported inside the commands only: ``xdsl check`` and ``xdsl audit`` load this module
to register the commands and must stay free of torch.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from xdsl.options import SEED, FiniteFloat, check_output
from xdsl.progress import quiet_option
from xdsl.threads import threads_option

from . import config as bounds
from .config import DataConfig, TrainConfig
from .errors import Interrupted, TrainError
from .recipes import RECIPES, recipe

EXIT_INTERRUPTED = 130
EXIT_ERROR = 1

RECIPE_OPTIONS = {  # CLI parameter → Recipe field
    "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr",
    "momentum": "momentum", "weight_decay": "weight_decay", "lr_decay": "lr_decay",
    "decay_every": "decay_every", "drop_rate": "drop_rate", "ema_decay": "ema_decay",
    "label_smoothing": "label_smoothing", "aux_weight": "aux_weight",
}
DATA_OPTIONS = {"data": "source", "image_size": "image_size", "shapes_classes": "shapes_classes",
                "shapes_train": "shapes_train", "shapes_val": "shapes_val",
                "shapes_seed": "shapes_seed", "workers": "workers"}


def handle_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """``xdsl.cli.handle_errors``, looked up when the command runs: ``xdsl.cli`` imports this
    module while it loads, so importing it back here would be circular."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from xdsl.cli import handle_errors as handle

        return handle(f)(*args, **kwargs)

    return wrapper


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    from xdsl.cli import _parse_sets as parse

    return parse(values)


def _main_process() -> bool:
    return int(os.environ.get("RANK", 0)) == 0


def train_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """TrainError → ``Error: ...`` and exit 1; a stop by Ctrl-C → its message and exit 130.
    Under torchrun only rank 0 speaks, so a message is not printed once per process."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except TrainError as e:
            if not _main_process():
                sys.exit(EXIT_ERROR)
            raise click.ClickException(str(e)) from None
        except Interrupted as e:
            if _main_process():
                click.echo(f"interrupted: {e} (checkpoint {e.checkpoint})", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def data_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--data", metavar="SOURCE", default=None,
                     help="`shapes` (synthetic coloured shapes, no download), a folder with "
                          "train/ and val/ holding one sub-folder per class, or cifar10:PATH / "
                          "cifar100:PATH (the Python version, 32x32).  [default: shapes; "
                          "evaluate: the run's data]"),
        click.option("--image-size", type=click.IntRange(8, bounds.MAX_IMAGE_SIZE), default=None,
                     help="Image size; sets the spec's image_size parameter when it has one. "
                          "[default: the spec's input size]"),
        click.option("--shapes-classes", type=click.IntRange(2, 10), default=None,
                     help="Classes of the shapes data.  [default: 10]"),
        click.option("--shapes-train", type=click.IntRange(1, bounds.MAX_IMAGES), default=None,
                     help="Training images of the shapes data.  [default: 2000]"),
        click.option("--shapes-val", type=click.IntRange(1, bounds.MAX_IMAGES), default=None,
                     help="Validation images of the shapes data.  [default: 500]"),
        click.option("--shapes-seed", type=SEED, default=None,
                     help="Seed the shapes data are generated from.  [default: 0]"),
        click.option("--workers", type=click.IntRange(0, bounds.MAX_WORKERS), default=None,
                     help="Data-loading processes.  [default: 0 for shapes, up to 8 for folders]"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _data_config(kw: dict[str, Any], base: DataConfig | None = None) -> DataConfig:
    values = {field: kw.pop(name) for name, field in DATA_OPTIONS.items()}
    base = base or DataConfig()
    return DataConfig(**{k: (v if v is not None else getattr(base, k))
                         for k, v in values.items()})


@click.command(short_help="Train SPEC with the Xception paper's recipes.")
@click.argument("spec", required=False)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a network parameter (repeatable).")
@data_options
@click.option("--recipe", "recipe_name", type=click.Choice(sorted(RECIPES)), default="imagenet",
              show_default=True, help="The paper's ImageNet or JFT recipe; the options below "
                                      "override its fields.")
@click.option("--epochs", type=click.IntRange(1, bounds.MAX_EPOCHS),
              help="Passes over the training data.  [imagenet/jft: 100]")
@click.option("--batch-size", type=click.IntRange(1, bounds.MAX_BATCH), help="Per process.  [32]")
@click.option("--optimizer", type=click.Choice(["sgd", "rmsprop"]),
              help="Optimizer.  [imagenet: sgd, jft: rmsprop]")
@click.option("--lr", type=FiniteFloat(0, min_open=True),
              help="Initial learning rate.  [imagenet: 0.045, jft: 0.001]")
@click.option("--momentum", type=FiniteFloat(0, 1), help="Optimizer momentum.  [0.9]")
@click.option("--weight-decay", type=FiniteFloat(0),
              help="[1e-5; 4e-5 for Inception networks] (on conv and linear weights)")
@click.option("--lr-decay", type=FiniteFloat(0, 1, min_open=True),
              help="Factor per decay interval.  [imagenet: 0.94, jft: 0.9]")
@click.option("--decay-every", metavar="N UNIT", help="Decay interval: '2 epochs', "
                                                     "'3000000 samples', '500 steps'.")
@click.option("--drop-rate", type=FiniteFloat(0, 1, max_open=True),
              help="Sets the spec's drop_rate parameter.  [imagenet: 0.5, jft: 0]")
@click.option("--ema-decay", type=FiniteFloat(0, 1, max_open=True),
              help="Polyak averaging; 0 turns it off.  [0.9999]")
@click.option("--label-smoothing", type=FiniteFloat(0, 1, max_open=True),
              help="Label smoothing of the cross-entropy loss.  [0]")
@click.option("--aux-weight", type=FiniteFloat(0),
              help="Weight of side-head losses.  [0.4]")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the weights, the data order and dropout.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto: cuda when available.")
@click.option("--amp", type=click.Choice(["auto", "bf16", "fp16", "off"]), default="auto",
              show_default=True, help="Mixed precision. auto: on CUDA bf16 where supported, "
                                      "else fp16 with a grad scaler; on a CPU bf16 where it "
                                      "computes bfloat16 natively (AVX512-BF16, AMX), else "
                                      "float32. off: float32.")
@click.option("--memory-format", type=click.Choice(["auto", "channels_last", "contiguous"]),
              default="auto", show_default=True, help="auto: channels_last on CPUs, and on "
                                                      "CUDA for networks without depthwise "
                                                      "convolutions.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--eval-weights", type=click.Choice(["ema", "raw"]), default="ema",
              show_default=True, help="Weights the validation uses.")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Folder for checkpoints and metrics.  [runs/<network>-<time>]")
@click.option("--resume", type=click.Path(exists=True),
              help="Continue the run in this folder (or from this checkpoint file) exactly.")
@click.option("--max-steps", type=click.IntRange(1, bounds.MAX_STEPS),
              help="Stop after this many steps in all, with a checkpoint (resumable).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (needs tqdm).  [on when stderr is a terminal]")
@quiet_option
@threads_option
@click.option("--tensorboard/--no-tensorboard", default=None,
              help="TensorBoard logs in the run folder.  [on when tensorboard is installed]")
@click.option("--nproc", type=click.IntRange(1, 1024),
              help="Run N processes on this machine through torchrun (DDP).")
@handle_errors
@train_errors
def train_command(spec: str | None, sets: tuple[str, ...], recipe_name: str, seed: int,
                  device: str, amp: str, memory_format: str, compile_: bool, eval_weights: str,
                  run_dir: str | None, resume: str | None, max_steps: int | None,
                  progress: bool | None, quiet: bool, threads: int | None,
                  tensorboard: bool | None, nproc: int | None, **kw: Any) -> None:
    """Train SPEC on --data with the paper's recipe; checkpoints and metrics go to the run folder.

    Standard output gets a header, one line per epoch and the summary, each line as soon as it
    is known (also when it goes to a file); on a terminal, standard error also shows a progress
    bar and what the run is doing.

    Multi-GPU or multi-node: `torchrun --nproc-per-node N -m xdsl train ...` (or --nproc N).
    With --resume RUN_DIR, SPEC may be omitted: the run's own spec text is used.
    """
    ctx = click.get_current_context()
    if nproc is not None and nproc > 1 and "WORLD_SIZE" not in os.environ:
        sys.exit(_launch(ctx, nproc))
    if spec is None and resume is None:
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR")
    if run_dir is not None:
        check_output(run_dir, "--run-dir", folder=True)
    if spec is not None and resume is not None and _main_process():
        click.echo(f"xdsl: --resume uses the spec text stored in the run; {spec} is not read",
                   err=True)
    data = _data_config(kw)
    fields = {RECIPE_OPTIONS[k]: v for k, v in kw.items() if k in RECIPE_OPTIONS}
    config = TrainConfig(spec=spec or "", params=_parse_sets(sets), data=data,
                         recipe=recipe(recipe_name, **fields), run_dir=run_dir, seed=seed,
                         device=device, amp=amp, memory_format=memory_format,  # type: ignore[arg-type]
                         compile=compile_, eval_weights=eval_weights,  # type: ignore[arg-type]
                         max_steps=max_steps, progress=False if quiet else progress,
                         tensorboard=tensorboard, resume=resume,
                         threads=threads if threads is not None else "auto")
    from .loop import train

    summary = train(config, changed=_changed(ctx) if resume else None, log=click.echo)
    if _main_process():
        click.echo(str(summary))


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def _changed(ctx: click.Context) -> set[str]:
    """Config fields given on this command line (what a resume is asked to change)."""
    out = {f"recipe.{field}" for name, field in RECIPE_OPTIONS.items() if _given(ctx, name)}
    out |= {f"data.{field}" for name, field in DATA_OPTIONS.items() if _given(ctx, name)}
    if _given(ctx, "recipe_name"):
        out |= {f"recipe.{f}" for f in RECIPES["imagenet"].to_dict()}
    out |= {name for name in ("seed",) if _given(ctx, name)}
    if _given(ctx, "sets"):
        out.add("params")
    return out


def _launch(ctx: click.Context, nproc: int) -> int:
    """Re-run this command line under torchrun with ``nproc`` processes."""
    from .distributed import torchrun_command

    args = ["train", *_argv(ctx, skip={"nproc"})]
    click.echo(f"xdsl: launching {nproc} processes with torchrun", err=True)
    return subprocess.call(torchrun_command(nproc, args))


def _argv(ctx: click.Context, skip: set[str]) -> list[str]:
    """The command-line words that give ``ctx``'s parameters their values."""
    words: list[str] = []
    for p in ctx.command.params:
        if p.name in skip or p.name is None or not _given(ctx, p.name):
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Argument):
            words.insert(0, str(value))
        elif isinstance(p, click.Option) and p.is_flag:
            words.append(p.opts[0] if value else p.secondary_opts[0])
        elif isinstance(p, click.Option) and p.multiple:
            for v in value:
                words += [p.opts[0], str(v)]
        else:
            words += [p.opts[0], str(value)]
    return words


@click.command(short_help="Report a checkpoint's top-1 and top-5 accuracy.")
@click.argument("spec", required=False)
@click.option("--checkpoint", "checkpoint_path", required=True, type=click.Path(),
              help="A checkpoint file (last.pt, best.pt) or a run folder (its last.pt).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a network parameter (default: the checkpoint's).")
@data_options
@click.option("--weights", type=click.Choice(["auto", "ema", "raw"]), default="auto",
              show_default=True, help="auto: the Polyak-averaged weights when the checkpoint "
                                      "has them.")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True,
              help="Which part of the data to evaluate on.")
@click.option("--batch-size", type=click.IntRange(1, bounds.MAX_BATCH), default=64,
              show_default=True, help="Images per forward pass.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto: cuda when available.")
@click.option("--amp", type=click.Choice(["auto", "bf16", "fp16", "off"]), default="auto",
              show_default=True, help="Mixed precision. auto: bf16 where the GPU or CPU "
                                      "computes it natively, else fp16 on CUDA and float32 on "
                                      "a CPU. off: float32.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@threads_option
@quiet_option
@handle_errors
@train_errors
def evaluate_command(spec: str | None, checkpoint_path: str, sets: tuple[str, ...], weights: str,
                     split: str, batch_size: int, device: str, amp: str, fmt: str,
                     threads: int | None, quiet: bool, **kw: Any) -> None:
    """Top-1 and top-5 accuracy of a checkpoint on --data (default: the run's own data).

    SPEC defaults to the spec text stored in the checkpoint.
    """
    from .evaluation import evaluate

    data = {field: kw[name] for name, field in DATA_OPTIONS.items() if kw[name] is not None}
    result, used = evaluate(spec, checkpoint_path, data, _parse_sets(sets), weights, batch_size,
                            device, amp, split, threads=threads if threads is not None else "auto",
                            progress=False if quiet else None)
    if fmt == "json":
        import torch

        click.echo(json.dumps({"checkpoint": checkpoint_path, "weights": used, "split": split,
                               **result.__dict__, "threads": torch.get_num_threads()}, indent=2))
    else:
        click.echo(f"{checkpoint_path} ({used} weights, {split}, {result.precision}): {result}")
