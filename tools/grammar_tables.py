"""Write (or check) ``xdsl/_grammar_tables.py``: the grammar compiled by the installed lark.

    python tools/grammar_tables.py           # after editing xdsl/grammar.lark
    python tools/grammar_tables.py --check   # exit 1 when the file is stale

``tests/test_scan.py`` fails while the file is stale; until it is rewritten the parser runs
lark's own tables (slower start, the same trees).
"""

from __future__ import annotations

import sys

from xdsl.scan import TABLES_PATH, tables_source


def main(argv: list[str]) -> int:
    source = tables_source()
    if argv == ["--check"]:
        ok = TABLES_PATH.exists() and TABLES_PATH.read_text(encoding="utf-8") == source
        print("up to date" if ok else f"{TABLES_PATH.name} is stale: run "
              "python tools/grammar_tables.py")
        return 0 if ok else 1
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    TABLES_PATH.write_text(source, encoding="utf-8")
    print(f"wrote {TABLES_PATH} ({len(source):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
