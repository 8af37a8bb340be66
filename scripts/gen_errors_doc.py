"""Write docs/errors.md, the error guide, from the code registry.

    .venv/bin/python scripts/gen_errors_doc.py           # rewrite docs/errors.md
    .venv/bin/python scripts/gen_errors_doc.py --check   # exit 1 if it is out of date

The text comes from `clearline.errors_doc.render_errors_doc()`: the codes
from `clearline.diagnostics.CODES`, the examples and fixes from
`clearline.errors_doc.ENTRIES`. tests/test_diagnostics.py runs `--check`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clearline.errors_doc import render_errors_doc

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def main(argv: list[str] | None = None, doc: Path = DOC) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render_errors_doc()
    if "--check" in args:
        current = doc.read_text(encoding="utf-8") if doc.is_file() else ""
        if current != text:
            print(f"{doc} is out of date: run scripts/gen_errors_doc.py", file=sys.stderr)
            return 1
        return 0
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
