"""Fuzz xdsl for a while and keep one minimised reproducer per failure class.

    python tools/fuzz.py --seconds 300 --seed 1 --out fuzz-findings

Runs the resource bombs (smallest size first), then mutated seeds (every shipped spec and every
spec under tests/) through the oracle of ``tests/fuzz/oracle.py`` until the time is up. Each new
failure class (stage, kind, exception, where) is shrunk and written as ``NN-<class>.x`` with a
line in ``findings.md`` and ``findings.json``. A reproducer seeded from a variant must sit beside
the spec it varies: the table says where (``specs/variants/``). The case being run is kept in
``.current.x`` so that a hard crash leaves its reproducer. Single process; memory is capped.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fuzz.bombs import all_bombs  # noqa: E402
from fuzz.mutate import Case, random_case  # noqa: E402
from fuzz.oracle import Failure, Workspace, run  # noqa: E402
from fuzz.shrink import keeps, shrink  # noqa: E402


def _slug(signature: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", signature).strip("-")[:60].lower()


class Findings:
    def __init__(self, out: Path):
        self.out = out
        self.found: dict[str, dict] = {}
        out.mkdir(parents=True, exist_ok=True)

    def __contains__(self, signature: str) -> bool:
        return signature in self.found

    def add(self, failure: Failure, case: Case, original: Case) -> None:
        name = f"{len(self.found) + 1:02d}-{_slug(failure.signature)}.x"
        (self.out / name).write_bytes(case.data)
        self.found[failure.signature] = {
            **asdict(failure), "file": name, "seed": case.seed, "recipe": original.recipe,
            "bytes": len(case.data), "original_bytes": len(original.data)}
        self.save()

    def save(self) -> None:
        rows = list(self.found.values())
        (self.out / "findings.json").write_text(json.dumps(rows, indent=2) + "\n")
        lines = ["| file | stage | kind | seed (write it beside) | detail |",
                 "|---|---|---|---|---|"]
        for r in rows:
            detail = r["detail"].splitlines()[0][:120].replace("|", "\\|") if r["detail"] else ""
            lines.append(f"| {r['file']} | {r['stage']} | {r['kind']} | {r['seed']} | {detail} |")
        (self.out / "findings.md").write_text("\n".join(lines) + "\n")


def _cases(seed: int, bombs: bool):
    if bombs:
        yield from all_bombs()
    rng = random.Random(seed)
    while True:
        yield random_case(rng)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--out", type=Path, default=Path("fuzz-findings"),
                    help="folder for reproducers (default fuzz-findings/)")
    ap.add_argument("--shrink-seconds", type=float, default=30.0,
                    help="time spent minimising each new failure class (default 30)")
    ap.add_argument("--no-bombs", action="store_true", help="mutated seeds only")
    ap.add_argument("--memory", type=float, default=4.0, help="address-space cap in GiB")
    args = ap.parse_args(argv)
    cap = int(args.memory * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    findings = Findings(args.out)
    workspace = Workspace()
    deadline = time.monotonic() + args.seconds
    count = 0
    try:
        for case in _cases(args.seed, not args.no_bombs):
            if time.monotonic() > deadline:
                break
            (args.out / ".current.x").write_bytes(case.data)
            count += 1
            for failure in run(case, workspace).failures:
                if failure.signature in findings:
                    continue
                small = case if case.seed.startswith("bomb/") else \
                    shrink(case, keeps(failure.signature, workspace), args.shrink_seconds)
                findings.add(failure, small, case)
                print(f"[{count}] {failure.signature}: {len(case.data)} -> {len(small.data)} "
                      f"bytes ({case.recipe})", flush=True)
    finally:
        workspace.close()
        (args.out / ".current.x").unlink(missing_ok=True)
    print(f"{count} cases, {len(findings.found)} failure classes, in {args.out}/findings.md")
    return 1 if findings.found else 0


if __name__ == "__main__":
    sys.exit(main())
