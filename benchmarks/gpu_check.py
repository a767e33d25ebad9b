"""One command for a short GPU slot: everything the CUDA path needs to be known, in ≤ 8 minutes.

    python benchmarks/gpu_check.py OUT_DIR               # on one GPU (≈ 8 min, no network)
    python benchmarks/gpu_check.py OUT_DIR --cpu-smoke   # every part on the CPU, tiny (≈ 1 min)

Parts, in this order, each in its own process with its own time budget (a crash, a hang or a
CUDA error that poisons the context loses that part alone; what it measured before is kept):

``env``          device and versions (torch, CUDA, cuDNN, GPU name and memory, TF32 flags).
``equivalence``  compiled Xception == timm ``legacy_xception`` and compiled Inception V3 ==
                 torchvision ``inception_v3`` on the device with the same weights, float32
                 (TF32 off): largest difference against how far the output moves between two
                 inputs, tolerance 1e-4 of that spread as in the CPU tests; bf16 autocast
                 errors are reported beside the peer's own bf16 error.
``eager``        images/s and peak memory (``torch.cuda.max_memory_allocated``), xdsl against
                 timm / torchvision, eval forward and training step (SGD, momentum 0.9),
                 float32 / bf16 autocast / fp16 autocast + GradScaler, NCHW / channels_last,
                 batch 32 and 128, alternating xdsl and peer case by case.
``train``        ``xdsl train xception`` on the shapes data at 299² with ``--amp auto`` as a
                 subprocess: 100 steps, then ``--resume`` to 200 (loss falls, images/s,
                 checkpoint written and readable, resume continues the step count).
``torchrun``     one process under torchrun: NCCL process group, collectives and DDP over an
                 xdsl module, then ``xdsl train`` itself launched by torchrun.
``compile``      ``torch.compile`` (inductor) of both networks and both peers, bf16 autocast,
                 channels_last, eval and training step, batch 128 then 32 (compile seconds,
                 images/s, peak memory), most wanted first, until its budget ends.

Each part writes what it has measured after every case, so a part stopped at its budget (or
the whole run stopped near 8 minutes) still reports it. OUT_DIR gets ``gpu_check.json`` and
``gpu_check.md`` (rewritten after every part). ``--cpu-smoke`` runs the same code on the CPU
at tiny sizes (32² Xception, 75² Inception V3 without its side head, batch 2 and 3, one timed
call per case, each mode and precision once in one layout and batch, fp16 left to the GPU, one
thread, gloo instead of NCCL, ``torch.compile`` with the ``eager`` backend: graph capture only),
so that tests/benchmarks/test_gpu_check.py keeps the script from rotting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("env", "equivalence", "eager", "train", "torchrun", "compile")
# seconds per part on the GPU and in --cpu-smoke; the whole run stops at --budget (480 s)
BUDGETS = {"env": 45, "equivalence": 60, "eager": 150, "train": 110, "torchrun": 75,
           "compile": 240}
# the smoke run takes about a minute on 2 idle cores; its budgets leave room for a busy machine
SMOKE_BUDGETS = {"env": 40, "equivalence": 90, "eager": 90, "train": 90, "torchrun": 60,
                 "compile": 60}
TOTAL_S, SMOKE_TOTAL_S = 480, 420
RESERVE_S = 8  # kept for the parent to write the report after the last part
TIMM_LIKE = {"pool_pad": "symmetric", "bn_eps": 1e-5}  # timm's legacy_xception conventions
STATUSES = ("ok", "partial", "failed", "error", "timeout", "skipped")
BUDGET_SPENT = "the part's time budget is spent"
NO_CPU_FP16 = ("fp16 autocast has no fast path on CPUs (tens of seconds a step here); "
               "tests/benchmarks/test_gpu_check.py runs this code path on a small model")


# ---------------------------------------------------------------------------------------------
# a part's side: progress lines, results saved after each step, the part's deadline


@dataclass
class Part:
    """What a part process fills in; ``save`` writes it so that a kill loses nothing measured."""

    name: str
    smoke: bool
    deadline: float  # time.time() by which the part must have stopped
    file: Path
    data: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        print(message, flush=True)

    def left(self) -> float:
        return self.deadline - time.time()

    def save(self, status: str | None = None, reason: str | None = None) -> None:
        record = {"data": self.data, "checks": self.checks, "notes": self.notes}
        if status is not None:
            record.update(status=status, reason=reason)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(self.file)

    @property
    def device(self) -> str:
        return "cpu" if self.smoke else "cuda"


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# env


def part_env(p: Part) -> None:
    import torch

    d: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }
    for name in ("torchvision", "timm", "triton", "xdsl"):
        try:
            d[name] = __import__(name).__version__
        except Exception as e:  # a missing package is a finding, not a crash
            d[name] = f"unavailable: {type(e).__name__}: {e}"
    try:
        from xdsl.train.devices import cpu_bf16_features

        d["cpu_bf16_features"] = cpu_bf16_features()
    except Exception as e:
        d["cpu_bf16_features"] = f"unavailable: {e}"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        d.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                 capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                 multiprocessors=props.multi_processor_count,
                 bf16_supported=torch.cuda.is_bf16_supported(),
                 nccl=".".join(map(str, torch.cuda.nccl.version())))
    p.data.update(d)
    p.checks["xdsl importable"] = not str(d["xdsl"]).startswith("unavailable")
    p.checks["device usable"] = p.smoke or bool(d["cuda_available"])
    for key, value in d.items():
        p.log(f"  {key}: {value}")


# ---------------------------------------------------------------------------------------------
# the two networks and their peers


def sizes(p: Part) -> dict[str, int]:
    return {"xception": 32, "inception_v3": 75} if p.smoke else {"xception": 299,
                                                                   "inception_v3": 299}


def build(net: str, impl: str, p: Part, layout: str, classes: int, aux: bool) -> Any:
    """An initialised model on the device in ``layout`` (xdsl converts its input inside
    ``forward``; the peer's weights are converted as users do with ``.to(memory_format)``)."""
    import torch

    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    if impl == "xdsl":
        import xdsl

        if net == "xception":
            return xdsl.compile("xception", **TIMM_LIKE, classes=classes,
                                image_size=sizes(p)[net], memory_format=layout, device=p.device)
        return xdsl.compile("inception_v3", classes=classes, aux=aux, memory_format=layout,
                            device=p.device)
    if net == "xception":
        import timm

        model = timm.create_model("legacy_xception", pretrained=False, num_classes=classes)
    else:
        import torchvision

        model = torchvision.models.inception_v3(weights=None, aux_logits=aux,
                                                init_weights=False, num_classes=classes)
    return model.to(p.device, memory_format=fmt)


def peer_name(net: str) -> str:
    return "timm legacy_xception" if net == "xception" else "torchvision inception_v3"


# ---------------------------------------------------------------------------------------------
# equivalence on the device


def part_equivalence(p: Part) -> None:
    import torch

    torch.backends.cudnn.allow_tf32 = False  # float32 means float32 here
    torch.backends.cuda.matmul.allow_tf32 = False
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "backends" / "pytorch"))
    from equivalence import calibrate  # the tests' own BN calibration and key mapping
    from test_timm_equivalence import load_from_timm

    import xdsl

    batch = 2 if p.smoke else 8
    for net in ("xception", "inception_v3"):
        if p.left() < 5:
            p.notes.append(f"{net}: skipped, the part's budget is spent")
            continue
        size = sizes(p)[net]
        torch.manual_seed(0)
        if net == "xception":
            import timm

            ref = timm.create_model("legacy_xception", pretrained=False)
        else:
            import torchvision

            ref = torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                  init_weights=False, transform_input=False,
                                                  dropout=0.0)
        ref = ref.to(p.device)
        gen = torch.Generator().manual_seed(1)
        batches = [torch.randn(batch, 3, size, size, generator=gen).to(p.device)
                   for _ in range(5)]
        calibrate(ref, batches[:3])  # exact BN statistics, so the output depends on the input
        ours = {}
        for layout in ("contiguous", "auto"):  # auto: xdsl's own choice on this device
            if net == "xception":
                ours[layout] = xdsl.compile("xception", **TIMM_LIKE, image_size=size,
                                            memory_format=layout, device=p.device)
                load_from_timm(ours[layout], ref)
            else:  # xdsl's transplant pairs torchvision's tensors by run order
                ours[layout] = xdsl.compile("inception_v3", drop_rate=0.0, weights=ref,
                                            memory_format=layout, device=p.device)
            ours[layout].eval()
        x1, x2 = batches[3:]
        with torch.no_grad():
            y1, y2 = ref(x1), ref(x2)
            spread = (y1 - y2).abs().max().item()
            row: dict[str, Any] = {"peer": peer_name(net), "size": size, "batch": batch,
                                   "spread": spread, "tolerance": 1e-4 * spread}
            for layout, m in ours.items():
                row[f"float32 {layout} max|diff|"] = (m(x1) - y1).abs().max().item()
            with torch.autocast(p.device, dtype=torch.bfloat16):
                row["bf16 xdsl max|diff|"] = (ours["auto"](x1).float() - y1).abs().max().item()
                row["bf16 peer max|diff|"] = (ref(x1).float() - y1).abs().max().item()
        p.data[net] = row
        p.checks[f"{net}: calibrated output moves"] = spread > 1e-2
        for layout in ours:
            p.checks[f"{net}: float32 {layout} within 1e-4 x spread"] = \
                row[f"float32 {layout} max|diff|"] <= row["tolerance"]
        # bf16 rounds differently in each implementation: ours may err as much as the peer's
        # own bf16 run, three times over, or 2 % of the spread, whichever is larger
        p.checks[f"{net}: bf16 error comparable to the peer's"] = row["bf16 xdsl max|diff|"] <= \
            max(3 * row["bf16 peer max|diff|"], 0.02 * spread)
        p.log(f"  {net}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in row.items()))
        p.save()
        del ref, ours
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True


# ---------------------------------------------------------------------------------------------
# throughput: eager and torch.compile


PRECISIONS = ("float32", "bf16", "fp16")


@dataclass(frozen=True)
class Case:
    net: str
    impl: str  # "xdsl" or "peer"
    mode: str  # "eval" or "train"
    precision: str
    layout: str
    batch: int
    compiled: bool

    def key(self) -> str:
        return (f"{self.net} {self.impl} {self.mode} {self.precision} {self.layout} "
                f"b{self.batch}" + (" compiled" if self.compiled else ""))


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device, dtype=dtype)


def loss_of(out: Any, y: Any) -> Any:
    from torch.nn.functional import cross_entropy

    if isinstance(out, tuple):  # (logits, side-head logits), torchvision's InceptionOutputs
        return cross_entropy(out[0], y) + 0.4 * cross_entropy(out[1], y)
    return cross_entropy(out, y)


def stepper(model: Any, run: Any, case: Case, device: str, classes: int,
            size: int) -> Callable[[], None]:
    """One eval forward or one training step of ``case`` on fixed random data."""
    import torch

    x = torch.randn(case.batch, 3, size, size, device=device)
    if case.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (case.batch,), device=device)
    if case.mode == "eval":
        model.eval()

        def forward() -> None:
            with torch.inference_mode(), autocast(device, case.precision):
                run(x)

        return forward
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device) if case.precision == "fp16" else None

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(device, case.precision):
            loss = loss_of(run(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    return step


def measure(step: Callable[[], None], case: Case, p: Part) -> dict[str, Any]:
    """images/s over timed steps after warm-up (the first call, with any compilation, is timed
    apart), peak memory over the whole case."""
    import torch

    cuda = p.device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    step()
    sync(p.device)
    first = time.perf_counter() - start
    if p.smoke:  # one call: the code path, not a figure
        return {"images_per_s": round(case.batch / first, 1), "steps": 1,
                "first_call_s": round(first, 3)}
    for _ in range(2):
        step()
    sync(p.device)
    start = time.perf_counter()
    step()
    sync(p.device)
    one = time.perf_counter() - start
    n = max(3, min(40, int(0.4 / max(one, 1e-4))))
    start = time.perf_counter()
    for _ in range(n):
        step()
    sync(p.device)
    seconds = time.perf_counter() - start
    result = {"images_per_s": round(case.batch * n / seconds, 1), "steps": n,
              "first_call_s": round(first, 3)}
    if cuda:
        result["peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return result


def throughput_cases(p: Part, compiled: bool) -> list[Case]:
    batches = (2, 3) if p.smoke else (32, 128)  # batch 1 cannot train BN on 1x1 maps
    layouts = ("contiguous", "channels_last")
    cases = []
    if not compiled:
        for net in ("xception", "inception_v3"):
            for li, layout in enumerate(layouts):
                for bi, batch in enumerate(batches):
                    for mi, mode in enumerate(("eval", "train")):
                        for pi, precision in enumerate(PRECISIONS):
                            # the smoke run takes each (mode, precision) once, in one layout
                            # and at one batch, so that every layout and batch is seen
                            if p.smoke and (li != (pi + mi) % 2 or bi != pi % 2):
                                continue
                            for impl in ("xdsl", "peer"):  # alternating, pair by pair
                                cases.append(Case(net, impl, mode, precision, layout, batch,
                                                  False))
        return cases
    # torch.compile takes tens of seconds per graph: the most wanted first, bf16 channels_last
    nets = ("xception",) if p.smoke else ("xception", "inception_v3")
    for batch in sorted(batches, reverse=True):
        for mode in ("eval", "train"):
            for net in nets:
                for impl in ("xdsl", "peer"):
                    if p.smoke and (batch == 2 or mode == "train" or impl == "peer"):
                        continue  # graph capture alone takes seconds per case on a CPU
                    cases.append(Case(net, impl, mode, "bf16", "channels_last", batch, True))
    return cases


def part_throughput(p: Part, compiled: bool) -> None:
    import torch

    torch.backends.cudnn.benchmark = True  # as xdsl train sets it on CUDA
    if compiled:
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = 64
    classes = 10 if p.smoke else 1000
    # Inception V3 trains with its side head (it needs 17x17 maps, about 299² input) and
    # evaluates without it: torchvision skips it in eval mode, xdsl's module would compute it
    train_aux = not p.smoke
    cases = throughput_cases(p, compiled)
    p.data.update(classes=classes, sizes=sizes(p), inception_aux_in_training=train_aux,
                  cases=[],
                  backend=("eager (graph capture only)" if p.smoke else "inductor")
                  if compiled else None)
    models: dict[tuple[str, str, str, bool], Any] = {}
    runs: dict[tuple[Any, ...], Any] = {}
    for i, case in enumerate(cases):
        row: dict[str, Any] = {"case": case.key(), **case.__dict__}
        p.data["cases"].append(row)
        # a case takes at most a few seconds eager; a compiled one may take a minute
        if p.left() < (3 if p.smoke else 30 if compiled else 4):
            row.update(status="skipped", reason=BUDGET_SPENT)
            continue
        if p.device == "cpu" and case.precision == "fp16":
            row.update(status="skipped", reason=NO_CPU_FP16)
            p.log(f"  [{i + 1}/{len(cases)}] {case.key()}: skipped, {NO_CPU_FP16}")
            continue
        try:
            aux = train_aux and case.mode == "train" and case.net == "inception_v3"
            mkey = (case.net, case.impl, case.layout, aux)
            if mkey not in models:
                for old in [k for k in models if k[0] != mkey[0] or k[2] != mkey[2]]:
                    del models[old]  # keep one network and layout on the device at a time
                runs.clear()
                if compiled:
                    torch._dynamo.reset()
                torch.manual_seed(0)
                models[mkey] = build(case.net, case.impl, p, case.layout, classes, aux)
            model = models[mkey]
            run = model
            if compiled:
                rkey = (*mkey, case.mode)
                if rkey not in runs:
                    backend = "eager" if p.smoke else "inductor"
                    runs[rkey] = torch.compile(model, backend=backend, dynamic=False)
                run = runs[rkey]
            step = stepper(model, run, case, p.device, classes, sizes(p)[case.net])
            row.update(measure(step, case, p), status="ok")
            model.zero_grad(set_to_none=True)
            del step
        except Exception as e:
            row.update(status="error", reason=f"{type(e).__name__}: {str(e)[:300]}")
            if p.device == "cuda":
                torch.cuda.empty_cache()
        shown = (f"{row['images_per_s']:.1f} img/s"
                 + (f", {row['peak_mib']} MiB" if "peak_mib" in row else "")
                 + (f", first call {row['first_call_s']:.1f} s" if compiled else "")
                 if row["status"] == "ok" else f"{row['status']}: {row['reason']}")
        p.log(f"  [{i + 1}/{len(cases)}] {case.key()}: {shown}")
        p.save()
    statuses = [r["status"] for r in p.data["cases"]]
    p.checks["no case failed"] = "error" not in statuses


# ---------------------------------------------------------------------------------------------
# xdsl train as users run it


def run_logged(cmd: list[str], p: Part, timeout: float, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> tuple[int, str]:
    """Run ``cmd``, relaying its output as progress; (return code, output)."""
    p.log("  $ " + " ".join(cmd))
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            p.log("    " + line.rstrip())

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        lines.append(f"(killed after {timeout:.0f} s)\n")
    reader.join(5)
    return proc.returncode, "".join(lines)


def xdsl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "xdsl", *args]


def part_train(p: Part) -> None:
    run = Path(tempfile.mkdtemp(prefix="gpu_check_train_")) / "run"
    if p.smoke:
        net = "mini_xception"  # the same loop and options, a network a CPU trains quickly
        shape = ["--image-size", "32", "--batch-size", "8", "--shapes-train", "32",
                 "--shapes-val", "8", "--epochs", "4", "--lr", "0.01", "--drop-rate", "0"]
        first, total = 8, 16
    else:
        net = "xception"
        shape = ["--image-size", "299", "--batch-size", "32", "--shapes-train", "1600",
                 "--shapes-val", "320", "--epochs", "4", "--workers", "4"]
        first, total = 100, 200
    common = ["--amp", "auto", "--device", p.device, "--no-progress", "--no-tensorboard"]
    env = {"OMP_NUM_THREADS": "1"} if p.smoke else {}
    p.data["network"] = net
    s1 = _train_session(p, "first", xdsl_cmd("train", net, *shape, *common, "--max-steps",
                                              str(first), "--run-dir", str(run)),
                        first, p.left() * 0.6, env, run)
    if s1 is None:
        return
    p.data["first"].update(steps=s1["steps"], status=s1["status"], precision=s1["precision"],
                           device=s1["device"], train_img_per_s=s1.get("train_img_per_s"),
                           img_per_s=s1.get("img_per_s"), elapsed_s=s1.get("elapsed_s"))
    p.checks["first run stops at --max-steps"] = s1["steps"] == first
    p.checks["checkpoint written"] = (run / "last.pt").is_file()
    p.save()
    s2 = _train_session(p, "resumed", xdsl_cmd("train", "--resume", str(run), "--max-steps",
                                                str(total), *common),
                        total, p.left() - 3, env, run)
    if s2 is None:
        return
    losses = [json.loads(line)["train_loss"]
              for line in (run / "metrics.jsonl").read_text().splitlines()]
    p.data["resumed"].update(steps=s2["steps"], session_steps=s2["session_steps"],
                             status=s2["status"], train_img_per_s=s2.get("train_img_per_s"),
                             img_per_s=s2.get("img_per_s"), val_top1=s2["last"]["val_top1"])
    p.data["train_loss_per_epoch"] = losses
    p.checks["resume continues to the total step count"] = \
        s2["steps"] == total and s2["session_steps"] == total - first
    p.checks["loss falls"] = len(losses) >= 2 and losses[-1] < losses[0]
    from xdsl.train import checkpoint

    state = checkpoint.load(run)
    p.checks["checkpoint loads"] = "model" in state


def _train_session(p: Part, key: str, cmd: list[str], steps: int, budget: float,
                   env: dict[str, str], run: Path) -> dict[str, Any] | None:
    """One `xdsl train` process, recorded under ``key``: its summary, or None when it failed."""
    rc, out = run_logged(cmd, p, budget, env)
    p.data[key] = {"returncode": rc, "max_steps": steps}
    p.checks[f"{key} run exits 0"] = rc == 0
    if rc != 0:
        p.data[key]["output"] = tail(out)
        return None
    return json.loads((run / "summary.json").read_text())


# ---------------------------------------------------------------------------------------------
# torchrun: NCCL (gloo in the smoke run) and xdsl train launched by torchrun


def nccl_worker(file: Path, smoke: bool) -> None:
    """Run by torchrun: process group, collectives, DDP over an xdsl module, a few steps."""
    import torch
    import torch.distributed as dist

    import xdsl
    from xdsl.train.distributed import checksum, from_env

    rank, world, local = from_env()
    device = torch.device("cpu" if smoke else f"cuda:{local}")
    backend = "gloo" if smoke else "nccl"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    out: dict[str, Any] = {"backend": dist.get_backend(), "rank": rank, "world": world}
    t = torch.full((4,), float(rank + 1), device=device)
    dist.all_reduce(t)
    out["all_reduce"] = t.tolist()
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, {"rank": rank})
    out["all_gather_object"] = gathered
    model = xdsl.compile("mini_xception", classes=10, width=16, device=device)
    ddp = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[local] if device.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    size = 64
    x = torch.randn(8, 3, size, size, device=device)
    y = torch.randint(0, 10, (8,), device=device)
    losses = []
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = loss_of(ddp(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out["ddp_losses"] = losses
    out["checksum"] = checksum(model.state_dict())
    dist.barrier()
    dist.destroy_process_group()
    file.write_text(json.dumps(out))


def part_torchrun(p: Part) -> None:
    from xdsl.train.distributed import torchrun_command

    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_torchrun_"))
    env = {"OMP_NUM_THREADS": "1"}
    worker_out = tmp / "worker.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
           str(Path(__file__).resolve()), "--nccl-worker", str(worker_out)]
    if p.smoke:
        cmd.append("--cpu-smoke")
    rc, out = run_logged(cmd, p, p.left() * 0.5, env, cwd=tmp)
    p.checks["worker exits 0"] = rc == 0
    if rc == 0 and worker_out.is_file():
        w = json.loads(worker_out.read_text())
        p.data["worker"] = w
        p.checks[f"{w['backend']} all_reduce"] = w["all_reduce"] == [1.0] * 4
        p.checks["DDP steps finite"] = all(math.isfinite(v) for v in w["ddp_losses"])
    else:
        p.data["worker"] = {"returncode": rc, "output": tail(out)}
    p.save()
    p.notes.append("xdsl's loop wraps DDP only when world > 1, and one GPU cannot hold two "
                   "NCCL ranks: the worker checks the process group, collectives and DDP over "
                   "an xdsl module; the second run checks the torchrun launch of xdsl train.")
    if p.smoke:  # a second torchrun start costs the smoke run seconds it does not have
        p.data["xdsl_train"] = {"skipped": "in the smoke run; tests/train/test_distributed.py "
                                "runs xdsl train under torchrun (2 processes, gloo)"}
        return
    run = tmp / "run"
    args = ["train", "mini_xception", "--set", "width=16", "--shapes-train", "512",
            "--shapes-val", "64", "--batch-size", "64", "--epochs", "1", "--device", p.device,
            "--amp", "auto", "--run-dir", str(run), "--no-progress", "--no-tensorboard"]
    rc, out = run_logged(torchrun_command(1, args), p, p.left() - 3, env, cwd=tmp)
    p.checks["xdsl train under torchrun exits 0"] = rc == 0
    if rc == 0:
        s = json.loads((run / "summary.json").read_text())
        p.data["xdsl_train"] = {k: s.get(k) for k in ("status", "steps", "world", "device",
                                                       "precision", "train_img_per_s")}
        p.checks["xdsl train under torchrun completes"] = s["status"] == "completed"
    else:
        p.data["xdsl_train"] = {"returncode": rc, "output": tail(out)}


# ---------------------------------------------------------------------------------------------
# the part process


RUNNERS: dict[str, Callable[[Part], None]] = {
    "env": part_env, "equivalence": part_equivalence,
    "eager": lambda p: part_throughput(p, compiled=False), "train": part_train,
    "torchrun": part_torchrun, "compile": lambda p: part_throughput(p, compiled=True)}


def run_part(name: str, file: Path, deadline: float, smoke: bool) -> int:
    p = Part(name, smoke, deadline, file)
    if not smoke:
        import torch

        if name != "env" and not torch.cuda.is_available():
            p.save("skipped", "no CUDA device is visible (use --cpu-smoke on a CPU)")
            print("  skipped: no CUDA device", flush=True)
            return 0
    else:
        import torch

        torch.set_num_threads(1)  # two threads on two busy cores wait on each other
    try:
        RUNNERS[name](p)
    except Exception as e:
        p.notes.append(traceback.format_exc()[-3000:])
        p.save("error", f"{type(e).__name__}: {str(e)[:500]}")
        print(traceback.format_exc(), flush=True)
        return 1
    failed = [k for k, ok in p.checks.items() if not ok]
    cases = p.data.get("cases", [])
    cut = sum(1 for r in cases if r.get("reason") == BUDGET_SPENT)
    if failed:
        p.save("failed", "checks failed: " + "; ".join(failed))
    elif cut:
        p.save("partial", f"{cut} of {len(cases)} cases skipped: the part's time budget ran out")
    else:
        p.save("ok", None)
    return 0


# ---------------------------------------------------------------------------------------------
# the parent: parts one after the other, each guarded, the report after each


def launch(name: str, timeout: float, smoke: bool, work: Path) -> dict[str, Any]:
    file = work / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--part-file",
           str(file), "--deadline", str(time.time() + timeout - 5)]
    if smoke:
        cmd.append("--cpu-smoke")
    start = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            print(f"[{name}] {line.rstrip()}", flush=True)

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    killed = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the part and whatever it started
        proc.wait()
        killed = True
    reader.join(5)
    record: dict[str, Any] = {"data": {}, "checks": {}, "notes": []}
    if file.is_file():
        record.update(json.loads(file.read_text()))
    if killed:
        record.update(status="timeout", reason=f"stopped at its budget of {timeout:.0f} s")
    elif "status" not in record:
        record.update(status="error", reason=f"the part process exited {proc.returncode} "
                      "without a result", output=tail("".join(lines), 40))
    elif record["status"] == "error":
        record["output"] = tail("".join(lines), 40)
    record["seconds"] = round(time.monotonic() - start, 1)
    record["budget_s"] = round(timeout)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", type=Path, help="folder for gpu_check.json/.md")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="every part on the CPU at tiny sizes (about a minute)")
    parser.add_argument("--budget", type=float, default=None,
                        help=f"seconds for the whole run [{TOTAL_S}; smoke {SMOKE_TOTAL_S}]")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="comma-separated parts to run, in the fixed order")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--part-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--nccl-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nccl_worker:
        nccl_worker(args.nccl_worker, args.cpu_smoke)
        return 0
    if args.part:
        return run_part(args.part, args.part_file, args.deadline, args.cpu_smoke)
    if args.out_dir is None:
        parser.error("give OUT_DIR")
    wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    smoke = args.cpu_smoke
    total = args.budget or (SMOKE_TOTAL_S if smoke else TOTAL_S)
    budgets = SMOKE_BUDGETS if smoke else BUDGETS
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    report: dict[str, Any] = {
        "tool": "benchmarks/gpu_check.py", "mode": "cpu-smoke" if smoke else "gpu",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "budget_s": total,
        "argv": sys.argv[1:] if argv is None else argv, "parts": {}}
    print(f"gpu_check: {report['mode']}, parts {', '.join(wanted)}, budget {total:.0f} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        for name in PARTS:
            if name not in wanted:
                continue
            left = total - (time.monotonic() - start) - RESERVE_S
            if left < 10:
                record = {"status": "skipped", "reason": "the whole run's budget is spent",
                          "data": {}, "checks": {}, "notes": []}
            else:
                timeout = min(budgets[name], left)
                # unused seconds of earlier parts go to compile, the last and hungriest part
                if name == "compile":
                    timeout = left
                print(f"== {name} (budget {timeout:.0f} s)", flush=True)
                record = launch(name, timeout, smoke, Path(work))
            report["parts"][name] = record
            report["seconds"] = round(time.monotonic() - start, 1)
            write(args.out_dir, report)
            print(f"== {name}: {record['status']}"
                  + (f" ({record['reason']})" if record.get("reason") else "")
                  + f" after {record.get('seconds', 0)} s", flush=True)
    print(f"gpu_check: done in {report['seconds']} s: {args.out_dir / 'gpu_check.md'}",
          flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# the report


def write(folder: Path, report: dict[str, Any]) -> None:
    (folder / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (folder / "gpu_check.md").write_text("\n".join(markdown(report)) + "\n")


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def table(header: list[str], rows: list[list[Any]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "---|" * len(header)
    for row in rows:
        yield "| " + " | ".join(fmt(v) for v in row) + " |"


def markdown(report: dict[str, Any]) -> Iterator[str]:
    yield f"# gpu_check ({report['mode']})"
    yield ""
    yield (f"Started {report['started']}, {report.get('seconds', 0)} s of a "
           f"{report['budget_s']:.0f} s budget.")
    yield ""
    yield from table(["part", "status", "seconds", "reason"],
                     [[n, r["status"], r.get("seconds"), r.get("reason") or ""]
                      for n, r in report["parts"].items()])
    for name, r in report["parts"].items():
        yield ""
        yield f"## {name}: {r['status']}"
        yield ""
        data = r.get("data", {})
        if name in ("eager", "compile") and data.get("cases"):
            yield from throughput_table(data["cases"])
        elif name == "equivalence":
            for net, row in data.items():
                yield f"**{net}** against {row.get('peer')}:"
                yield ""
                yield from table(["quantity", "value"], [[k, v] for k, v in row.items()
                                                          if k != "peer"])
                yield ""
        elif data:
            yield "```json"
            yield json.dumps(data, indent=1, default=str)
            yield "```"
        if r.get("checks"):
            yield ""
            yield from table(["check", "passed"], [[k, "yes" if v else "**NO**"]
                                                   for k, v in r["checks"].items()])
        for note in r.get("notes", []):
            yield ""
            yield note if "\n" not in note else f"```\n{note}\n```"
        if r.get("output"):
            yield ""
            yield f"```\n{r['output']}\n```"


def throughput_table(cases: list[dict[str, Any]]) -> Iterator[str]:
    """One row per (network, mode, precision, layout, batch): xdsl beside its peer."""
    rows: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for c in cases:
        key = (c["net"], c["mode"], c["precision"], c["layout"], c["batch"])
        rows.setdefault(key, {})[c["impl"]] = c

    def cell(c: dict[str, Any] | None, field_: str) -> Any:
        if c is None:
            return ""
        if c["status"] != "ok":
            return c["status"]
        return c.get(field_, "")

    out = []
    for key, pair in rows.items():
        ours, peer = pair.get("xdsl"), pair.get("peer")
        ratio = ""
        if ours and peer and ours["status"] == peer["status"] == "ok":
            ratio = f"{ours['images_per_s'] / peer['images_per_s']:.2f}"
        out.append([*key, cell(ours, "images_per_s"), cell(peer, "images_per_s"), ratio,
                    cell(ours, "peak_mib"), cell(peer, "peak_mib"),
                    cell(ours, "first_call_s"), cell(peer, "first_call_s")])
    yield from table(["network", "mode", "precision", "layout", "batch", "xdsl img/s",
                      "peer img/s", "xdsl/peer", "xdsl MiB", "peer MiB", "xdsl 1st s",
                      "peer 1st s"], out)
    errors = [c for c in cases if c["status"] == "error"]
    for c in errors:
        yield f"- {c['case']}: {c['reason']}"


if __name__ == "__main__":
    sys.exit(main())
