"""``xdsl compile``: spec → PyTorch module, checked against the graph IR, optionally saved.

torch is imported inside the command only: ``xdsl check`` and ``xdsl audit`` load this module
to register the command and must stay free of torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from xdsl.cli import EXIT_INTERNAL, _limits, _parse_sets, handle_errors, spec_options
from xdsl.files import same_file
from xdsl.ops import fmt_shape
from xdsl.options import SEED, check_output, write_bytes
from xdsl.progress import Status, quiet_option
from xdsl.threads import apply, choose_threads, threads_option

_PATH = click.Path(dir_okay=False, path_type=Path)


@click.command(short_help="Compile SPEC to a PyTorch module checked against its counts.")
@spec_options
@click.option("-o", "--output", type=_PATH,
              help="Save the state_dict: .safetensors → safetensors, any other suffix → "
                   "torch.save (a pickle of the state_dict).")
@click.option("--export-py", type=_PATH,
              help="Write a standalone PyTorch file (no xdsl import) defining the network.")
@click.option("--onnx", type=_PATH, help="Export to ONNX and check the file with onnx.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format of the per-block (or per-layer) table.")
@click.option("--layers", "per_layer", is_flag=True, help="One row per layer, not per block.")
@click.option("--optimize", is_flag=True,
              help="Inference module: batch norm folded into convolutions, channels_last. "
                   "Files written are of the optimised module.")
@click.option("--seed", default=0, show_default=True, type=SEED,
              help="Seed of the initial weights.")
@click.option("--init", type=click.Choice(["kaiming", "torch"]), default="kaiming",
              show_default=True, help="kaiming: xdsl's init; torch: PyTorch's layer defaults.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from these weights: a state_dict file of the same network "
                   "(torchvision's or timm's .pth, .safetensors), mapped onto the spec's layers "
                   "by position, every pair's kind and shape verified.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto: cuda when available.")
@click.option("--memory-format", type=click.Choice(["auto", "channels_last", "contiguous"]),
              default="auto", show_default=True,
              help="Layout the module converts inputs to; auto picks the faster per device.")
@click.option("--amp", type=click.Choice(["auto", "bf16", "off"]), default="off",
              show_default=True,
              help="Also check the module in mixed precision: bf16 runs a forward pass under "
                   "bfloat16 autocast and compares it with float32 (auto: where the device "
                   "computes bfloat16 natively); off: float32 only. The module is float32.")
@threads_option
@quiet_option
@handle_errors
def compile_command(spec: str, sets: tuple[str, ...], output: Path | None,
                    export_py: Path | None, onnx: Path | None, fmt: str, per_layer: bool,
                    optimize: bool, seed: int, init: str, weights: Path | None, device: str,
                    memory_format: str, amp: str, threads: int | None, quiet: bool,
                    **kw: Any) -> None:
    """Compile SPEC to a PyTorch module and check it against the graph IR."""
    for path, option in ((output, "-o"), (export_py, "--export-py"), (onnx, "--onnx")):
        if path is not None:
            check_output(path, option)  # before the slow part
    status = Status(False if quiet else None)
    from xdsl.api import parse
    from xdsl.graph import check_activation_memory

    limits = _limits(kw)
    with status.stage("reading the spec"):  # first: a spec that fails does not wait for torch
        parsed = parse(spec)
        for path, option in ((output, "-o"), (export_py, "--export-py"), (onnx, "--onnx")):
            if path is not None and any(same_file(path, f) for f in parsed.files):
                raise click.BadParameter(f"{path} is the spec being compiled; write to another "
                                         "file", param_hint=option)
        g = parsed.build(limits, **_parse_sets(sets))
        # the feature maps of the largest batch run below (the --optimize and ONNX checks)
        check_activation_memory(g, limits.max_activation_bytes, 2 if optimize or onnx else 1,
                                parsed.source)
    with status.stage("loading PyTorch"):
        import torch
        from xdsl.backends.pytorch.build import compile_network, export_python
        from xdsl.backends.pytorch.verify import layer_rows, verify

    threads = apply(choose_threads(threads))
    if device == "cuda" and not torch.cuda.is_available():
        raise click.UsageError("--device cuda: no CUDA device is available")
    if output and output.suffix == ".safetensors":
        try:
            import safetensors.torch  # noqa: F401
        except ImportError:
            raise click.UsageError("saving .safetensors needs `pip install safetensors`; "
                                   "or use a .pt file (torch.save)") from None
    with status.stage("building the module"):
        model = compile_network(g, seed=seed, init=init, memory_format=memory_format,  # type: ignore[arg-type]
                                device=device)
    final, notes = model, []
    if weights is not None:
        from xdsl.backends.pytorch.weights import WeightsError, transplant

        with status.stage(f"loading the weights of {weights}"):
            try:
                moved = transplant(model, weights)
            except WeightsError as e:
                raise click.BadParameter(str(e), param_hint="--weights") from None
        notes.append(f"weights: {moved.tensors} tensors ({moved.values:,} numbers) from "
                     f"{weights}, mapped by position; every pair's kind and shape verified")
    with status.stage("verifying against the graph IR"):
        checks = verify(model, g)
        rows = layer_rows(model, g)
    if optimize:
        with status.stage("folding batch norms and checking the outputs"):
            final, note = _optimize(model, g)
        notes.append(note)
    precision, agreement = _precision(final, amp), None
    if precision.enabled:
        with status.stage(f"checking {precision} against float32"):
            agreement, note = _amp_check(final, g, precision.dtype or "")
        notes.append(note)
    from xdsl.audit import flow_names

    report = _report(g, model, checks, rows, per_layer, seed, notes, threads,
                     flow_names(parsed.network))
    report["precision"] = str(precision)
    report["amp_check"] = None if agreement is None else {
        "dtype": agreement.dtype, "max_abs_diff": agreement.max_abs_diff,
        "spread": agreement.spread, "relative": agreement.relative,
        "tolerance": agreement.tolerance, "ok": agreement.ok}
    click.echo(json.dumps(report, indent=2) if fmt == "json" else _table(report, per_layer))
    bad = [c for c in checks if not c.ok]
    if bad:
        lines = [f"  {c.what}: graph IR {_fmt(c.expected)}, module {_fmt(c.actual)}" for c in bad]
        click.echo("xdsl: internal error: the compiled module disagrees with the graph IR\n"
                   + "\n".join(lines) + "\nThis is a bug in xdsl's PyTorch backend; please "
                   "report it with the spec.", err=True)
        sys.exit(EXIT_INTERNAL)
    if agreement is not None and not agreement.ok:
        click.echo(f"xdsl: {precision} outputs differ from float32's by "
                   f"{agreement.relative:.3g} of their spread (tolerance "
                   f"{agreement.tolerance:g}): run this network with --amp off", err=True)
        sys.exit(1)
    for path, what in ((output, "state_dict"), (export_py, "PyTorch source"), (onnx, "ONNX")):
        if path is None:
            continue
        with status.stage(f"writing the {what}" if path is not onnx else "exporting ONNX"):
            if path is output:
                _save_state(final, path, g)
            elif path is export_py:
                write_bytes(path, export_python(final, source_name=spec).encode("utf-8"))
            else:
                _export_onnx(final, path, g)
        click.echo(f"wrote {what} to {path}", err=fmt == "json")


def _optimize(model: Any, g: Any) -> tuple[Any, str]:
    """The optimised module, checked to give the unoptimised module's outputs."""
    import torch
    from xdsl.backends.pytorch.inference import optimize

    fast = optimize(model)
    shape = g.nodes[g.graph["input"]]["node"].shape
    device = next(model.parameters()).device
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    model.eval()
    with torch.no_grad():
        want, got = model(x), fast(x)
    model.train()
    delta = (want - got).abs().max().item()
    scale = want.abs().max().item()
    if not delta <= 1e-4 * scale + 1e-7:
        raise AssertionError(f"--optimize changed the outputs: max |Δ| {delta:.3g} for "
                             f"outputs up to {scale:.3g}")
    folded = len(fast.plan.folded)
    return fast, (f"--optimize: {folded} batch norms folded into convolutions, channels_last; "
                  f"max |Δ| vs unoptimised {delta:.2g} (outputs up to {scale:.2g})")


def _precision(model: Any, amp: str) -> Any:
    """The precision ``--amp`` selects on the module's device (``train``'s rule)."""
    from xdsl.train.devices import select_precision
    from xdsl.train.errors import TrainError

    device = next(model.parameters()).device
    try:
        return select_precision(str(device), amp)
    except TrainError as e:
        raise click.BadParameter(str(e).removeprefix(f"--amp {amp}: "),
                                 param_hint="--amp") from None


def _amp_check(model: Any, g: Any, dtype: str) -> tuple[Any, str]:
    """The module's autocast outputs against its float32 outputs, and a note saying so."""
    from xdsl.backends.pytorch.inference import autocast_agreement

    shape = g.nodes[g.graph["input"]]["node"].shape
    a = autocast_agreement(model, shape, dtype)
    return a, (f"--amp: {dtype} autocast outputs within {a.relative:.2%} of the output spread "
               f"of float32's (max |Δ| {a.max_abs_diff:.2g}, std {a.spread:.2g}; tolerance "
               f"{a.tolerance:.0%})")


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return fmt_shape(v)
    return f"{v:,}" if isinstance(v, int) else str(v)


def _report(g: Any, model: Any, checks: list[Any], rows: list[dict[str, Any]],
            per_layer: bool, seed: int, notes: list[str], threads: int,
            flows: frozenset[str] = frozenset()) -> dict[str, Any]:
    from xdsl.backends.pytorch.verify import block_rows

    nodes = g.nodes
    param = next(model.parameters(), None)
    return {
        "network": g.graph["name"],
        "params_values": g.graph.get("params", {}),
        "input": list(nodes[g.graph["input"]]["node"].shape),
        "output": list(nodes[g.graph["output"]]["node"].shape),
        "device": str(param.device) if param is not None else "cpu",
        "memory_format": "channels_last" if model.memory_format == _channels_last()
        else "contiguous",
        "seed": seed,
        "threads": threads,
        "trainable": checks[0].actual,
        "non_trainable": checks[1].actual,
        "macs": sum(r["macs"] for r in rows),
        "layers": rows if per_layer else None,
        "blocks": block_rows(rows, g, flows),
        "checks": [{"what": c.what, "graph_ir": _json(c.expected), "module": _json(c.actual),
                    "ok": c.ok} for c in checks],
        "notes": notes,
    }


def _channels_last() -> Any:
    import torch

    return torch.channels_last


def _json(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _table(r: dict[str, Any], per_layer: bool) -> str:
    from xdsl.report import text_table

    out = [f"{r['network']}: {fmt_shape(r['input'])} -> {fmt_shape(r['output'])}   "
           f"(PyTorch on {r['device']}, {r['memory_format']}, seed {r['seed']})", ""]
    if per_layer:
        rows = [[x["name"], x["op"], fmt_shape(x["output"]), f"{x['params']:,}",
                 f"{x['macs']:,}"] for x in r["layers"]]
        out += [text_table(["layer", "op", "output", "params", "MACs"], rows, {3, 4}), ""]
    else:
        rows = [[b["name"], str(b["layers"]), fmt_shape(b["output"]), f"{b['params']:,}",
                 f"{b['macs']:,}"] for b in r["blocks"]]
        out += [text_table(["block", "layers", "output", "params", "MACs"], rows, {1, 3, 4}), ""]
    rows = [[c["what"], _fmt(_tuple(c["graph_ir"])), _fmt(_tuple(c["module"])),
             "ok" if c["ok"] else "MISMATCH"] for c in r["checks"]]
    out.append(text_table(["check", "graph IR", "module", ""], rows, {1, 2}))
    out.append(f"multiply-accumulates (graph IR): {r['macs']:,}")
    out.append(f"precision: {r['precision']}")
    out += r["notes"]
    return "\n".join(out)


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _save_state(model: Any, path: Path, g: Any) -> None:
    """``.safetensors``: safetensors with the network's name and parameters as metadata;
    anything else: ``torch.save(state_dict)``."""
    import torch

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        meta = {"network": g.graph["name"], "params": json.dumps(g.graph.get("params", {}))}
        # written through a file opened as torch.save opens it, so the umask sets its mode:
        # safetensors' own save_file creates it readable by the owner only
        write_bytes(path, save(state, metadata=meta))
    else:
        import io

        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_bytes(path, buffer.getvalue())


def _export_onnx(model: Any, path: Path, g: Any) -> None:
    """``torch.onnx.export`` (the torch.export-based exporter, weights inside the file, a
    dynamic batch dimension), then ``onnx.checker.check_model``; exported to a temporary file,
    then copied to ``path``."""
    import contextlib
    import io
    import tempfile

    import onnx
    import torch

    shape = g.nodes[g.graph["input"]]["node"].shape
    device = next(model.parameters()).device
    heads = model.plan.outputs[1:]  # side heads are named after their layer
    names = ["output", *(h.replace(".", "_") for h in heads)]
    was_training = model.training
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder) / path.name
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints progress
                # traced at batch 2: torch.export specialises a dimension of size 1
                torch.onnx.export(model, (torch.zeros(2, *shape, device=device),), str(tmp),
                                  input_names=[g.graph["input"]], output_names=names,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},),
                                  external_data=False, dynamo=True)
        finally:
            model.train(was_training)
        onnx.checker.check_model(str(tmp), full_check=True)
        write_bytes(path, tmp.read_bytes())
