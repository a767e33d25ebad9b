"""The training run: set-up, epochs of steps, evaluation, checkpoints, and a summary.

A step is the unit of agreement and of resumption: the stop and NaN checks of a step are agreed
by all processes before its update is applied, and a checkpoint records how many steps of the
current epoch are done, so ``--resume`` continues with the very next batch, weights, optimizer
moments, learning rate and random state — the same losses as a run that was never stopped.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xdsl.progress import Status
from xdsl.threads import apply, busy_note, choose_threads

from . import checkpoint, distributed
from .config import TrainConfig, merge_resume
from .data import EpochSampler, ShardSampler, class_names, loader, open_data, steps_per_epoch
from .devices import select_precision
from .errors import CheckpointError, Interrupted, NonFiniteLoss, TrainError
from .evaluation import autocast, main_output, scores, sums
from .metrics import MetricsLog, Progress
from .network import build
from .optim import EMA, optimizer, scheduler
from .recipes import weight_decay_for
from .schema import check_config
from .stop import StopRequest
from .summary import TrainSummary

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(config: TrainConfig, changed: set[str] | None = None,
          on_step: Callable[[int, float], None] | None = None, log: Log | None = None
          ) -> TrainSummary:
    """Train ``config.spec`` (or resume ``config.resume``); return the summary.

    When resuming, the stored configuration is used with this call's runtime settings and the
    recipe fields named in ``changed`` (see :func:`~xdsl.train.config.merge_resume`).
    ``on_step(step, loss)`` sees every step's loss in this process; ``log`` receives the run's
    lines: a header, notes and one line per epoch (default: standard error, main process only).
    """
    started = time.perf_counter()
    ctx = distributed.setup(config.device)
    try:
        return Run(config, ctx, changed or set(), on_step, log, started).run()
    finally:
        distributed.teardown(ctx)


class Run:
    """One run in this process, set up from a config or a checkpoint; :meth:`run` runs it."""

    def __init__(self, config: TrainConfig, ctx: distributed.Context, changed: set[str],
                 on_step: Callable[[int, float], None] | None, log: Log | None,
                 started: float) -> None:
        self.ctx, self.on_step, self.started = ctx, on_step, started
        self.log: Log = (log or _stderr) if ctx.main else (lambda _: None)
        self.status = status = Status(config.progress if ctx.main else False)
        self.state: dict[str, Any] | None = None
        if config.resume:
            with status.stage("reading the checkpoint"):
                self.state = checkpoint.load(config.resume)
        if self.state is not None:
            stored = TrainConfig.from_dict(self.state["config"])
            config = merge_resume(stored, config, changed)
        check_config(config)  # the options' bounds hold for the API too (NaN, ranges)
        self.cfg = cfg = config
        self.recipe = r = cfg.recipe
        with status.stage("reading the spec"):
            names = list(self.state["classes"]) if self.state else class_names(cfg.data)
            if self.state:
                spec = self.state["spec"]
                self.net_info = build(spec["text"], dict(spec["params"]), len(names), cfg.data,
                                      None)
            else:
                self.net_info = build(cfg.spec, dict(cfg.params), len(names), cfg.data, r)
        self.classes, self.notes = names, list(self.net_info.notes)
        with status.stage("reading the data"):
            self.data = open_data(cfg.data, self.net_info.size)
        self.run_dir = self._run_dir()
        self.threads = self._threads()
        dev = ctx.device
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        # autocast lowers the products only: weights, BN statistics, the loss (computed on
        # float32 logits), optimizer state, EMA and checkpoints stay float32
        self.precision = select_precision(str(dev), cfg.amp)
        # torch (dropout), Python and NumPy; restored from the checkpoint on resume
        checkpoint.seed_all(cfg.seed + ctx.rank)
        from xdsl.backends.pytorch.build import compile_network

        with status.stage(f"building {self.net_info.name}"):
            self.net = compile_network(self.net_info.graph, seed=cfg.seed,
                                       memory_format=cfg.memory_format, device=dev)
        self.fmt = self.net.memory_format
        self.weight_decay = r.weight_decay if r.weight_decay is not None else \
            weight_decay_for(self.net_info.name)
        self.steps_per_epoch = steps_per_epoch(self.data, r.batch_size, ctx.world)
        if self.steps_per_epoch == 0:
            raise TrainError(f"the training set has {len(self.data.train):,} images, fewer "  # type: ignore[arg-type]
                             f"than one batch of {r.batch_size} per process; lower "
                             "--batch-size or add data")
        self.opt = optimizer(self.net, r, self.weight_decay)
        self.interval = r.decay_every.steps(self.steps_per_epoch, r.batch_size * ctx.world)
        self.sched = scheduler(self.opt, r, self.interval)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=self.precision.scaler)
        self.ema = EMA(self.net, r.ema_decay) if r.ema_decay > 0 else None
        self.epoch = self.batch = self.step = 0
        self.partial = [0.0, 0.0, 0.0, 0.0]  # loss sum, hits, images, seconds of this epoch
        self.session = [0, 0.0]  # training images (all processes), seconds of steps: this call
        self.epoch_lr: float | None = None  # the learning rate of the epoch's latest step
        self.epoch_began = started
        self.best: tuple[float, int] | None = None
        self.last_row: dict[str, Any] = {}
        if self.state:
            self._restore(self.state)
            self.state = None  # the run's own tensors hold it now
        self.first_step = self.step
        self.model: nn.Module = self.net
        if ctx.distributed:
            self.model = nn.parallel.DistributedDataParallel(
                self.net, device_ids=[dev.index] if dev.type == "cuda" else None)
        if cfg.compile:
            self.model = torch.compile(self.model)  # type: ignore[assignment]
        # a resumed run drops the rows of the epochs it repeats (written after its checkpoint)
        self.metrics = MetricsLog(self.run_dir, ctx.main, cfg.tensorboard,
                                  resumed_at=self.step if cfg.resume else None)

    # -- set-up ----------------------------------------------------------------------------------

    def _threads(self) -> int:
        """Apply ``cfg.threads`` (``None``: keep torch's count); note when other work keeps
        the cores busy."""
        wanted = self.cfg.threads
        if wanted is None:
            count = torch.get_num_threads()
        else:
            workers = self.cfg.data.loader_workers
            count = apply(choose_threads(None if wanted == "auto" else wanted, workers))
        if count > 1 and self.ctx.main and self.ctx.device.type == "cpu":
            with self.status.stage("checking whether the CPUs are busy"):
                note = busy_note(count)
            if note:
                self.notes.append(note)
        return count

    def _run_dir(self) -> Path:
        cfg = self.cfg
        if cfg.resume:
            path = checkpoint.resolve(cfg.resume).parent
        elif cfg.run_dir:
            path = Path(cfg.run_dir)
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path("runs") / f"{self.net_info.name}-{stamp}"
        path = Path(str(distributed.gather(self.ctx, str(path))[0]))
        if not cfg.resume and (path / checkpoint.LAST).exists():
            raise TrainError(f"{path} already holds a run ({checkpoint.LAST}); continue it with "
                             f"--resume {path} or choose another --run-dir")
        if self.ctx.main:
            path.mkdir(parents=True, exist_ok=True)
            for stale in checkpoint.remove_stale_temporaries(path):
                self.notes.append(f"removed {stale.name}, left by a process killed while "
                                  "writing a checkpoint")
        return path

    def _restore(self, state: dict[str, Any]) -> None:
        try:
            self.net.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            if self.ema is not None and state.get("ema"):
                self.ema.load_state_dict(state["ema"])
        except (RuntimeError, ValueError, KeyError) as e:  # valid fields that do not fit
            lines = [line.strip() for line in str(e).strip().splitlines()]
            detail = "; ".join(lines[1:4] or lines[:1])[:300]  # torch's: a title, then keys
            raise CheckpointError(f"{checkpoint.resolve(self.cfg.resume or '')}: its state does "
                                  f"not fit the network it describes ({detail})") from None
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        per_rank = state["per_rank"]
        mine = per_rank[self.ctx.rank] if len(per_rank) == self.ctx.world else per_rank[0]
        if len(per_rank) != self.ctx.world:
            self.notes.append(f"resumed with {self.ctx.world} processes instead of "
                              f"{len(per_rank)}: the data order and random state differ")
        checkpoint.set_rng_state(mine["rng"])
        self.partial = list(mine["partial"]) if self.batch else [0.0] * 4
        if state.get("best_top1") is not None:
            self.best = (state["best_top1"], state["best_epoch"])
        self.last_row = dict(state.get("metrics") or {})
        self._apply_recipe()

    def _apply_recipe(self) -> None:
        """Recipe fields changed at resume (``--lr``...) override the optimizer's stored ones."""
        r = self.recipe
        self.sched.base_lrs = [r.lr] * len(self.opt.param_groups)
        for i, group in enumerate(self.opt.param_groups):
            group["initial_lr"] = r.lr
            group["lr"] = r.lr * r.lr_factor(self.step, self.interval)
            group["momentum"] = r.momentum
            group["weight_decay"] = self.weight_decay if i == 0 else 0.0
            if r.optimizer == "rmsprop":
                group["alpha"], group["eps"] = r.rmsprop_alpha, r.rmsprop_eps

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> TrainSummary:
        cfg, r = self.cfg, self.recipe
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        self.log(f"{self.net_info.name}: {len(self.data.train):,} training and "  # type: ignore[arg-type]
                 f"{len(self.data.val):,} validation images, {len(self.classes)} classes, "  # type: ignore[arg-type]
                 f"{self.data.size[0]}x{self.data.size[1]}; {r.name} recipe ({r.optimizer}, "
                 f"lr {r.lr:g}, weight decay {self.weight_decay:g}); {self.ctx.world} x "
                 f"{self.ctx.device}, {self.precision}, {threads}; run folder {self.run_dir}")
        for note in self.notes:
            self.log(f"note: {note}")
        status = "completed"
        stopper = StopRequest(self.log)
        with stopper.installed():
            while self.epoch < r.epochs:
                if self._done(cfg.max_steps):
                    status = "max_steps"
                    break
                stop = self._train_epoch(stopper, cfg.max_steps)
                if self.batch < self.steps_per_epoch:  # stopped inside the epoch
                    path = self._save(best=False)
                    if stop == "signal":
                        raise Interrupted(f"stopped at step {self.step:,} (epoch "
                                          f"{self.epoch + 1}); resume with --resume "
                                          f"{self.run_dir}", str(path))
                    status = "max_steps"
                    break
                self._end_epoch()
                if distributed.agree(self.ctx, stopper.requested)[0]:
                    raise Interrupted(f"stopped after epoch {self.epoch}; resume with "
                                      f"--resume {self.run_dir}", str(self.run_dir / "last.pt"))
        self.metrics.close()
        return self._summary(status)

    def _done(self, max_steps: int | None) -> bool:
        return max_steps is not None and self.step >= max_steps

    def _train_epoch(self, stopper: StopRequest, max_steps: int | None) -> str | None:
        """Steps of the current epoch from ``self.batch``; returns why it stopped early."""
        ctx, r, dev = self.ctx, self.recipe, self.ctx.device
        sampler = EpochSampler(len(self.data.train), ctx.world, ctx.rank, self.cfg.seed,  # type: ignore[arg-type]
                               self.epoch, self.batch * r.batch_size)
        batches = loader(self.data.train, sampler, r.batch_size, self.cfg.data,
                         dev.type == "cuda", train=True)
        bar = Progress(self.steps_per_epoch, self.batch, f"epoch {self.epoch + 1}/{r.epochs}",
                       self.cfg.progress if ctx.main else False)
        self.net.train()
        loss_sum, hits, seen, elapsed = self.partial
        tick = self.epoch_began = time.perf_counter()
        reason = None
        try:
            for images, labels in batches:
                images = images.to(dev, non_blocking=True).contiguous(memory_format=self.fmt)
                labels = labels.to(dev, non_blocking=True)
                with autocast(dev, self.precision):
                    out = self.model(images)
                    loss = self._loss(out, labels)
                value = loss.item()
                bad, stop = distributed.agree(ctx, not math.isfinite(value), stopper.requested)
                if bad:
                    raise self._nonfinite(value)
                self.opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.opt)
                self.scaler.update()
                self.epoch_lr = self.opt.param_groups[0]["lr"]  # before the schedule moves on
                self.sched.step()
                if self.ema is not None:
                    self.ema.update(self.net)
                self.step += 1
                self.batch += 1
                n = labels.numel()
                loss_sum += value * n
                hits += (main_output(out).argmax(1) == labels).sum().item()
                seen += n
                now = time.perf_counter()
                self.session[0] += n * ctx.world
                self.session[1] += now - tick
                elapsed, tick = elapsed + now - tick, now
                self.partial = [loss_sum, hits, seen, elapsed]
                if self.on_step is not None:
                    self.on_step(self.step, value)
                bar.update(loss_sum / seen, hits / seen, seen * ctx.world / max(elapsed, 1e-9))
                if stop:
                    reason = "signal"
                elif self._done(max_steps):
                    reason = "max_steps"
                if reason:
                    break
        finally:
            bar.close()
        return reason

    def _loss(self, out: Any, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the main output, plus ``aux_weight`` times each side head's."""
        heads = out if isinstance(out, tuple) else (out,)
        ce = nn.functional.cross_entropy
        loss = ce(heads[0].float(), labels, label_smoothing=self.recipe.label_smoothing)
        for aux in heads[1:]:
            loss = loss + self.recipe.aux_weight * ce(aux.float(), labels,
                                                      label_smoothing=self.recipe.label_smoothing)
        return loss

    def _nonfinite(self, value: float) -> NonFiniteLoss:
        last = self.run_dir / checkpoint.LAST
        kept = (f"the last good checkpoint is kept: {last} (resume it with --resume "
                f"{self.run_dir} and a lower --lr)") if last.exists() else \
            "no checkpoint was written before this step"
        what = "NaN" if math.isnan(value) else "infinite"
        return NonFiniteLoss(f"training stopped: the loss became {what} at step {self.step + 1:,} "
                             f"(epoch {self.epoch + 1}, learning rate "
                             f"{self.opt.param_groups[0]['lr']:.3g}); the update was not applied "
                             f"and {kept}")

    def _end_epoch(self) -> None:
        ctx = self.ctx
        loss_sum, hits, seen, elapsed = distributed.total(ctx, self.partial)
        elapsed /= ctx.world
        module = self.net
        if self.ema is not None and self.cfg.eval_weights == "ema":
            module = self.ema.module
        distributed.broadcast_buffers(ctx, self.net)
        if self.ema is not None:
            distributed.broadcast_buffers(ctx, self.ema.module)
        val = self.data.val
        batches = loader(val, ShardSampler(len(val), ctx.world, ctx.rank),  # type: ignore[arg-type]
                         self.recipe.batch_size, self.cfg.data, ctx.device.type == "cuda",
                         train=False)
        k = min(5, len(self.classes))
        with self.status.stage(f"validating on {len(val):,} images"):  # type: ignore[arg-type]
            s = scores(distributed.total(ctx, sums(module, batches, ctx.device, self.precision,
                                                   self.fmt, k)), k)
        self.epoch += 1
        self.batch = 0
        self.partial = [0.0] * 4
        now = time.perf_counter()
        lr = self.epoch_lr if self.epoch_lr is not None else self.opt.param_groups[0]["lr"]
        row = {"epoch": self.epoch, "step": self.step, "train_loss": loss_sum / max(seen, 1),
               "train_top1": hits / max(seen, 1), "val_loss": s.loss, "val_top1": s.top1,
               "val_top5": s.top5, "img_per_s": seen / max(elapsed, 1e-9),
               "lr": lr, "time_s": now - self.started,
               "weights": "ema" if module is not self.net else "raw",
               "precision": str(self.precision)}
        self.last_row = row
        self.metrics.write(row)
        best = self.best is None or s.top1 > self.best[0]
        if best:
            self.best = (s.top1, self.epoch)
        self.log(f"epoch {self.epoch}/{self.recipe.epochs}: train loss {row['train_loss']:.4f} "
                 f"acc {row['train_top1']:.3f} | val top-1 {s.top1:.4f} top-{k} {s.top5:.4f} "
                 f"({row['weights']}) | lr {row['lr']:.4g} | {row['img_per_s']:,.1f} img/s | "
                 f"{now - self.epoch_began:,.1f} s (total {row['time_s']:,.1f} s)")
        self._save(best=best)

    def _save(self, best: bool) -> Path:
        """Gather every process's random state and partial sums; the main process writes."""
        mine = {"rng": checkpoint.rng_state(), "partial": list(self.partial)}
        per_rank = distributed.gather(self.ctx, mine)
        path = self.run_dir / checkpoint.LAST
        if not self.ctx.main:
            return path
        spec = self.net_info.spec
        state = {
            "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "epoch": self.epoch, "batch": self.batch, "step": self.step,
            "per_rank": per_rank,
            "best_top1": self.best[0] if self.best else None,
            "best_epoch": self.best[1] if self.best else None,
            "metrics": self.last_row,
            "classes": self.classes,
            "spec": {"text": spec.source.text, "name": spec.name, "source": self.cfg.spec,
                     "params": self.net_info.params},
            "config": self.cfg.to_dict(),
        }
        with self.status.stage("writing the checkpoint"):
            return checkpoint.save(self.run_dir, state, best)

    def _summary(self, status: str) -> TrainSummary:
        sums_ = distributed.checksum(self.net.state_dict())
        checksums = [str(c) for c in distributed.gather(self.ctx, sums_)]
        step_s = distributed.total(self.ctx, [self.session[1]])[0] / self.ctx.world
        images = self.session[0]
        best_path = self.run_dir / checkpoint.BEST
        elapsed = time.perf_counter() - self.started
        summary = TrainSummary(
            run_dir=str(self.run_dir), network=self.net_info.name, params=self.net_info.params,
            status=status, epochs=self.epoch, steps=self.step, elapsed_s=elapsed,
            img_per_s=images / elapsed, device=str(self.ctx.device),
            precision=str(self.precision), world=self.ctx.world, images=images,
            session_steps=self.step - self.first_step,
            train_img_per_s=images / step_s if step_s > 0 else 0.0, threads=self.threads,
            best_top1=self.best[0] if self.best else None,
            best_epoch=self.best[1] if self.best else None, last=self.last_row,
            checkpoint=str(self.run_dir / checkpoint.LAST),
            best_checkpoint=str(best_path) if best_path.exists() else None,
            checksums=checksums, notes=self.notes)
        if self.ctx.main:
            (self.run_dir / "summary.json").write_text(
                json.dumps(summary.__dict__, indent=2, default=str) + "\n", encoding="utf-8")
        return summary
