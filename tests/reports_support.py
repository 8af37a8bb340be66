"""Helpers the document tests share: goldens with hashes masked, amounts read
back from the HTML, the text a browser shows, and a headless chromium.

`check_golden(name, text)` compares `text` with tests/golden/reports/<name>;
`CLEARLINE_UPDATE_GOLDENS=1` rewrites the golden files instead.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

from babel.numbers import parse_decimal

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "reports"
UPDATE = os.environ.get("CLEARLINE_UPDATE_GOLDENS") == "1"
RUN_NAME = "out/2026-03"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def mask(text: str) -> str:
    """Hashes out: a contract's comment or a new plan field changes every hash, not the documents.

    Document numbers keep their form (`INV-2026-03-C-1001-<hash>`); that they are
    stable is tested by rendering twice, how they are made by a doctest.
    """
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    text = re.sub(r"\b([Pp]lan) [0-9a-f]{16}\b", r"\1 <plan>", text)
    return re.sub(r"\b((?:INV|SB|AUD)-[^\s<>|]*?-)[0-9A-F]{8}\b", r"\1<hash>", text)


def check_golden(name: str, text: str) -> None:
    text = mask(text)
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden {path}: run with CLEARLINE_UPDATE_GOLDENS=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


class TextParser(HTMLParser):
    """The text a browser shows, and whether any element is a script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: set[str] = set()
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.skip += tag in {"style", "title"}

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in {"style", "title"}

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)


class AmountParser(HTMLParser):
    """Cells with data-amount: (attributes, shown text), and the page's language."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[dict[str, str], list[str]]] = []
        self.row: dict[str, str] = {}
        self.current: list[str] | None = None
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "tr":
            self.row = a
        if tag == "td" and "data-amount" in a:
            self.current = []
            self.cells.append(({**a, **{f"row-{k}": v for k, v in self.row.items()}}, self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current.append(data)


def amounts(path: Path) -> tuple[list[tuple[dict[str, str], Decimal]], str]:
    """Each amount cell with its attributes, checked: its text says its data-amount."""
    parser = AmountParser()
    parser.feed(path.read_text(encoding="utf-8"))
    out = []
    for attrs, parts in parser.cells:
        shown = "".join(parts).strip()
        number = re.sub(r"[^\d,.\-\u00a0\u202f ]", "", shown).strip(" \u00a0")
        number = re.sub(r"^-[\s\u00a0\u202f]+", "-", number)  # -PLN 8.17: the sign, then the symbol
        value = parse_decimal(number, locale=parser.lang, strict=True)
        assert value == Decimal(attrs["data-amount"]), (path.name, shown, attrs)
        out.append((attrs, value))
    return out, parser.lang


def totals(cells: list[tuple[dict[str, str], Decimal]], key: str) -> dict[str, Decimal]:
    return {a["data-currency"]: v for a, v in cells if a.get("data-total") == key}


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
