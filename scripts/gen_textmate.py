"""Write editors/vscode/syntaxes/clearline.tmLanguage.json from the grammar's words.

Run after adding keywords to clearline.lark: `python scripts/gen_textmate.py`
(tests/test_highlighting.py fails while the file is out of date).
"""

from __future__ import annotations

import json
from pathlib import Path

from clearline.authoring.pygments_lexer import textmate_grammar

TARGET = (
    Path(__file__).resolve().parent.parent / "editors" / "vscode" / "syntaxes" / "clearline.tmLanguage.json"
)


def main() -> None:
    TARGET.write_text(json.dumps(textmate_grammar(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
