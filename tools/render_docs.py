"""Regenerate docs/specs/<name>.{svg,dot,md} for every shipped spec.

    python tools/render_docs.py          # rewrite what changed
    python tools/render_docs.py --check  # list stale renderings, exit 1 if any
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xdsl.backends.graphviz import docs

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    if args.check:
        problems = docs.stale(ROOT)
        for line in problems:
            print(line)
        return 1 if problems else 0
    for path in docs.write(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
