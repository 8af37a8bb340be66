"""The run folder: streamed rated records, line files, rejects, traces and
the manifest, written atomically.

Every file is written under a temporary name (unpredictable, created with
O_EXCL and O_NOFOLLOW: see `store.folder`) and renamed into place; the old
manifest and documents are removed first and the new manifest is written
last, so a folder whose manifest exists holds a complete run, and an
interrupted run never looks complete. The folder is locked for the run.

CSV files are for spreadsheets: a text cell starting with `=`, `+`, `-`, `@`,
a tab or a carriage return is written with a leading apostrophe, so that no
spreadsheet runs it as a formula (numbers, negative ones too, and a text
that is a plain number are left as they are). The JSON Lines files carry
every value as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import IO, Any

from clearline.runtime.rating.engine import RatedLine, RatedPrice, RatedRow, RatedRows, Reject, Routed
from clearline.runtime.settlement.settle import LINE_COLUMNS, Settlement
from clearline.runtime.store.folder import Claim, create_exclusive, temporary_name
from clearline.runtime.store.manifest import build_manifest, input_entries, plan_text, sha256_file

__all__ = ["RATED_COLUMNS", "REJECT_COLUMNS", "RatedText", "RunWriter", "neutralise", "sha256_file"]

RATED_COLUMNS = ["record_id", "line_id", "clause", "billed_quantity", "amount"]
REJECT_COLUMNS = ["file", "line", "record_id", "code", "field", "value", "reason"]
ROUTED_COLUMNS = ["file", "line", "record_id", "period", "routed_to"]
INVOICE_TOTAL_COLUMNS = [
    "customer",
    "period",
    "currency",
    "vat_rate",
    "reverse_charge",
    "net",
    "vat",
    "gross",
    "lines",
]
# cells of these columns are numbers; any other cell is text, neutralised in CSV
NUMERIC_COLUMNS = frozenset(
    {"billed_quantity", "amount", "quantity", "unit_price", "vat_rate", "vat_amount", "gross_amount"}
    | {"paid_amount", "fx_rate", "records", "line", "contract_version", "net", "vat", "gross", "lines"}
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def neutralise(cell: str) -> str:
    """A text cell as a spreadsheet shows it and never runs it: one that starts like
    a formula gets a leading apostrophe, unless it is a plain number (`-5`, a
    negative quantity a reject shows, is no formula).

    >>> neutralise("=SUM(A1)"), neutralise("C-1001"), neutralise("-5"), neutralise("-2+3")
    ("'=SUM(A1)", 'C-1001', '-5', "'-2+3")
    """
    if cell.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


_PART_CACHE = 1 << 15
# a record id without these (and printable) is written as it is in both rated files
_SPECIAL = (",", '"', "\\")
_JSON_HEAD = '{"record_id":"'


class _Rendered(dict[Any, str]):
    """Part of a rated row -> its rendering, made the first time it is asked for."""

    def __init__(self, render: Callable[[Any], str]) -> None:
        super().__init__()
        self.render = render

    def __missing__(self, part: Any) -> str:
        text = self[part] = self.render(part)
        return text


class _CsvWriter:
    """csv.writer with rows ended by a line feed -- and a carriage return quoted too:
    csv.writer quotes only the characters of its line ending, so a lone CR would go
    out bare and a reader would end the row there. Such a row is quoted whole.
    The cells at `text` (indexes) are neutralised (see `neutralise`)."""

    def __init__(self, handle: IO[str], text: Sequence[int] = ()) -> None:
        self._plain = csv.writer(handle, lineterminator="\n")
        self._quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._text = tuple(text)

    def writerow(self, cells: Sequence[str]) -> None:
        if self._text:
            cells = list(cells)
            for i in self._text:
                cells[i] = neutralise(cells[i])
        (self._quoted if "\r" in "".join(cells) else self._plain).writerow(cells)


def _text_columns(columns: Sequence[str]) -> list[int]:
    return [i for i, c in enumerate(columns) if c not in NUMERIC_COLUMNS]


def _csv_row(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    _CsvWriter(buffer).writerow(cells)
    return buffer.getvalue()


def _csv_cells(*cells: str) -> str:
    return _csv_row(("x", *cells))[1:-1]  # ",cell,cell", as csv.writer quotes them


# a plain record id, then the line part, then the price part: the row, as csv.writer
# and json.dumps would write it
def _csv_line(line: RatedLine) -> str:
    return _csv_cells(line.line_id, neutralise(line.clause)) + ","


def _csv_price(price: RatedPrice) -> str:
    return _csv_cells(price.quantity, price.amount)[1:] + "\n"


def _json_line(line: RatedLine) -> str:
    return f'","line_id":"{line.line_id}","clause":{_jstr(line.clause)},"billed_quantity":"'


def _json_price(price: RatedPrice) -> str:
    return f'{price.quantity}","amount":"{price.amount}"}}\n'


def _jstr(text: str) -> str:
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


class RatedText:
    """Renders batches of rated rows as the text of the two rated files.

    Each distinct line part and price part is rendered once; when no record
    id of the batch needs quoting or escaping, a row is its id and its two
    rendered parts, joined in C.
    """

    def __init__(self) -> None:
        # tail -> its rendering after the record id, in each file
        self._csv_lines, self._csv_prices = _Rendered(_csv_line), _Rendered(_csv_price)
        self._json_lines, self._json_prices = _Rendered(_json_line), _Rendered(_json_price)

    def parts(
        self, lines: Sequence[RatedLine], prices: Sequence[RatedPrice]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """The renderings of line parts and price parts that follow a plain record id in
        each file (CSV lines, CSV prices, JSON lines, JSON prices): a row is its id and
        the two (runtime.rating.columnar joins them in polars)."""
        csv_lines, csv_prices = self._csv_lines, self._csv_prices
        json_lines, json_prices = self._json_lines, self._json_prices
        if len(csv_prices) > _PART_CACHE:  # memory stays flat, as in `render`
            for render in (csv_lines, csv_prices, json_lines, json_prices):
                render.clear()
        return (
            [csv_lines[line] for line in lines],
            [csv_prices[price] for price in prices],
            [json_lines[line] for line in lines],
            [json_prices[price] for price in prices],
        )

    def render(self, rows: RatedRows) -> tuple[str, str]:
        """The batch's rows as CSV text and as JSON Lines text."""
        ids, lines, prices = rows.ids, rows.lines, rows.prices
        renders = (self._csv_lines, self._csv_prices, self._json_lines, self._json_prices)
        if len(self._csv_prices) > _PART_CACHE:
            for render in renders:
                render.clear()
        every = " ".join(ids)
        if (
            not every.isprintable()
            or any(c in every for c in _SPECIAL)
            or every.startswith(FORMULA_STARTS)
            or any(f" {c}" in every for c in FORMULA_STARTS)
        ):
            return _rated_rows(
                RatedRow(rid, line.line_id, line.clause, price.quantity, price.amount)
                for rid, line, price in zip(ids, lines, prices, strict=True)
            )
        csv_lines, csv_prices, json_lines, json_prices = renders
        csv_rows = zip(
            ids, map(csv_lines.__getitem__, lines), map(csv_prices.__getitem__, prices), strict=True
        )
        json_rows = zip(
            repeat(_JSON_HEAD),
            ids,
            map(json_lines.__getitem__, lines),
            map(json_prices.__getitem__, prices),
            strict=False,  # the head repeats for as long as there are rows
        )
        return "".join(chain.from_iterable(csv_rows)), "".join(chain.from_iterable(json_rows))


def _rated_rows(rows: Iterable[RatedRow]) -> tuple[str, str]:
    """Rated rows one by one, any record id (quoted and escaped as needed)."""
    buffer = io.StringIO()
    write_csv = _CsvWriter(buffer, _text_columns(RATED_COLUMNS)).writerow
    lines: list[str] = []
    for r in rows:
        write_csv((r.record_id, r.line_id, r.clause, r.quantity, r.amount))
        lines.append(
            f'{{"record_id":{_jstr(r.record_id)},"line_id":"{r.line_id}",'
            f'"clause":{_jstr(r.clause)},"billed_quantity":"{r.quantity}","amount":"{r.amount}"}}\n'
        )
    return buffer.getvalue(), "".join(lines)


class RunWriter:
    """Writes one run folder. Use as a context manager around the run.

    Raises `FolderInUse` when another run holds the folder, `FolderNotARun`
    when it holds other files (unless `force`)."""

    def __init__(self, out_dir: Path, force: bool = False, route: bool = False) -> None:
        self.out = out_dir
        self.route = route  # --out-of-period route: the routed files are written (else none)
        self._claim = Claim(out_dir, force)
        try:
            manifest = self.out / "manifest.json"
            if manifest.exists() or manifest.is_symlink():
                manifest.unlink()  # the folder no longer holds a complete run
            self._claim.clear_stale()
            for stale in self.out.glob(".workers-*"):  # left by a run that was killed
                shutil.rmtree(stale, ignore_errors=True)
            # an earlier run's, perhaps for other periods or of other contracts, and the
            # temporary files of a run that was killed (the lock says none is running)
            routed = [self.out / "routed.csv", self.out / "routed.jsonl"]
            for stale in [*self.out.glob("routed-*.jsonl"), *self.out.glob("plan-*.json"), *routed]:
                stale.unlink(missing_ok=True)
            for stale in self.out.glob(".*.partial"):
                stale.unlink()
            self.pending: dict[str, Path] = {}
            self._rated_csv: IO[bytes] = self._open_bytes("rated_records.csv")
            self._rated_jsonl: IO[bytes] = self._open_bytes("rated_records.jsonl")
        except BaseException:
            self._claim.release()
            raise
        self._rated_csv.write((",".join(RATED_COLUMNS) + "\n").encode())
        self.rated_count = 0
        self._text = RatedText()

    def temporary(self, name: str) -> Path:
        """Where the file `name` of the run is written until it is complete."""
        if name not in self.pending:
            self.pending[name] = temporary_name(self.out / name)
        return self.pending[name]

    def _open(self, name: str) -> IO[str]:
        return io.TextIOWrapper(self._open_bytes(name), encoding="utf-8", newline="")

    def _open_bytes(self, name: str) -> IO[bytes]:
        path = self.temporary(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return create_exclusive(path)

    def rated(self, rows: RatedRows) -> None:
        """Append a batch of rated rows to the CSV and JSON Lines files."""
        csv_text, json_text = self._text.render(rows)
        self.rated_text(len(rows), csv_text.encode(), json_text.encode())

    def restart_rated(self) -> None:
        """Drop the rated rows written so far: the run rates its records again (the
        columnar engine, when the ids turn out not to increase: rating.columnar.settle_files)."""
        for handle in (self._rated_csv, self._rated_jsonl):
            handle.seek(0)
            handle.truncate()
        self._rated_csv.write((",".join(RATED_COLUMNS) + "\n").encode())
        self.rated_count = 0

    def rated_parts(
        self, lines: Sequence[RatedLine], prices: Sequence[RatedPrice]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """The renderings of rated rows' parts after a plain record id (`RatedText.parts`)."""
        return self._text.parts(lines, prices)

    def rated_text(self, count: int, csv_text: bytes, json_text: bytes) -> None:
        """Append rated rows already rendered (by `RatedText`, UTF-8)."""
        self.rated_count += count
        self._rated_csv.write(csv_text)
        self._rated_jsonl.write(json_text)

    def _table(self, stem: str, columns: list[str], rows: list[dict[str, str]]) -> None:
        with self._open(f"{stem}.csv") as handle:
            writer = _CsvWriter(handle, _text_columns(columns))
            writer.writerow(columns)
            for row in rows:
                writer.writerow([row.get(c, "") for c in columns])
        with self._open(f"{stem}.jsonl") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def table(self, stem: str, columns: list[str], rows: list[dict[str, str]]) -> None:
        """Another table of the run (CSV and JSON Lines), written with the rest."""
        self._table(stem, columns, rows)

    def text(self, name: str, text: str) -> None:
        """Another file of the run, written with the rest (and named in the manifest)."""
        with self._open(name) as handle:
            handle.write(text)

    def finish(
        self,
        result: Settlement,
        inputs: list[tuple[str, Path | str]],
        plan_sha256: str,
        extra: dict[str, Any] | None = None,
        pack: bool = False,
        hashes: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Write everything but the streamed file, then the manifest; return it.
        With `pack`, the inputs are copied in (`inputs/sha256/HEX`). `hashes`: the
        SHA-256 of inputs already hashed elsewhere (a cluster's workers), by path."""
        for rows in result.lifecycle_rows():
            self.rated(rows)
        self._rated_csv.close()
        self._rated_jsonl.close()
        # withholding lines sit under the payouts they reduce, in the payout file
        for kinds, stem in (
            (("invoice",), "invoice_lines"),
            (("payout", "withholding"), "payout_lines"),
            (("retained",), "retained_lines"),
        ):
            self._table(stem, LINE_COLUMNS, [ln.row() for ln in result.lines if ln.kind in kinds])
        self._table("invoice_totals", INVOICE_TOTAL_COLUMNS, result.invoice_totals())
        self._table("rejects", REJECT_COLUMNS, [_reject_row(r) for r in _sorted(result.rejects)])
        self._table("unmatched", REJECT_COLUMNS, [_reject_row(r) for r in _sorted(result.unmatched)])
        if self.route:
            self._routed(result.routed)
        with self._open("trace.jsonl") as handle:
            for trace in result.traces:
                handle.write(json.dumps(trace, ensure_ascii=False, sort_keys=True) + "\n")
        plans = []
        for plan in result.plans:
            text = plan_text(plan)
            name = f"plan-{hashlib.sha256(text).hexdigest()}.json"
            if name not in self.pending:
                with self._open_bytes(name) as handle:
                    handle.write(text)
            plans.append((plan, name))
        for name, tmp in self.pending.items():
            os.replace(tmp, self.out / name)
        entries = input_entries(inputs, self.out if pack else None, hashes)
        manifest = build_manifest(result, entries, plans, plan_sha256, self.out, list(self.pending))
        if extra:
            manifest.update(extra)
        tmp = temporary_name(self.out / "manifest.json")
        with create_exclusive(tmp) as handle:
            handle.write((json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode())
        os.replace(tmp, self.out / "manifest.json")
        self.pending = {}
        self._claim.release()
        return manifest

    def _routed(self, routed: list[Routed]) -> None:
        """The list of routed records, and per period they belong to a usage file of
        them (JSON Lines, every field as read) for that period's run."""
        by_period: dict[str, list[Routed]] = {}
        for r in routed:
            by_period.setdefault(r.period, []).append(r)
        rows: list[dict[str, str]] = []
        for period, records in sorted(by_period.items()):
            name = f"routed-{period}.jsonl"
            with self._open(name) as handle:
                for number, r in enumerate(records, start=1):
                    handle.write(json.dumps(dict(r.fields), ensure_ascii=False) + "\n")
                    rows.append(
                        {
                            "file": r.file,
                            "line": str(r.line),
                            "record_id": r.record_id,
                            "period": period,
                            "routed_to": f"{name}:{number}",
                        }
                    )
        rows.sort(key=lambda row: (row["file"], int(row["line"])))
        self._table("routed", ROUTED_COLUMNS, rows)

    def abort(self) -> None:
        """Remove what the run wrote; never raises (it runs while another error is
        on its way out, a full disk's, say, which closing a file meets again)."""
        for handle in (self._rated_csv, self._rated_jsonl):
            try:
                handle.close()
            except OSError:
                pass
        for tmp in self.pending.values():
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        self._claim.release()


def _sorted(rejects: list[Reject]) -> list[Reject]:
    return sorted(rejects, key=lambda r: (r.file, r.line))


def _reject_row(r: Reject) -> dict[str, str]:
    return {
        "file": r.file,
        "line": str(r.line),
        "record_id": r.record_id,
        "code": r.code,
        "field": r.field,
        "value": r.value,
        "reason": r.reason,
    }
