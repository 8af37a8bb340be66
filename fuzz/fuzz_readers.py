"""Fuzz the input side of a run: bytes -> usage, FX or customers file -> settlement.

The first byte of an input says what the rest is: 0xFF a usage Parquet file
(when pyarrow is installed), else by its value modulo 4: 0 a usage CSV file,
1 a usage JSON Lines file, 2 the FX rates CSV, 3 the customers CSV. The four
bundled contracts settle March 2026 with it (and the bundled data for the
other roles) into a run folder. What must hold,
whatever the bytes:

- the run ends in a settlement or in a `ClearlineError` with registered codes
  (a file-level problem); the run folder, when it has a manifest.json, holds
  exactly the outputs the manifest hashes (a failed run leaves no manifest,
  or the previous run's folder as it was);
- every record is accounted for: read = rated + rejected + unmatched, in the
  result and the manifest; read is the number of records the file holds
  (non-blank CSV rows after the header, non-blank JSON lines, the rows a
  Parquet footer counts), so none is lost; each rated record id is counted once;
- conservation holds, as the run reports it and recomputed from the lines
  (invoice net = payouts + retained, per contract and currency);
- every line file parses back (CSV and JSON Lines, as many rows in both), and
  rejects/unmatched hold as many rows as counted;
- the same file settled in batches of 7 gives the same lines, rejects and
  counts (batches meet the reader at arbitrary rows).

Anything else is a finding, saved in fuzz/findings/.

    .venv/bin/python fuzz/fuzz_readers.py --seconds 600
    .venv/bin/python fuzz/fuzz_readers.py --replay fuzz/findings/fuzz_readers-0123456789ab.bin
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import common

NAME = "fuzz_readers"
DATA = common.ROOT / "contracts" / "data"
USAGE = ["streamplus-subscriptions.csv", "nordcarrier-cdrs.csv", "fleetiot-usage.csv", "dcb-purchases.csv"]
SEED_ROWS = 40  # the DCB file has 1,350 rows: its first rows seed well enough
ROLES = ("usage.csv", "usage.jsonl", "fx.csv", "customers.csv")
PARQUET = 0xFF  # the first byte of a Parquet usage input
LINE_STEMS = ("invoice_lines", "payout_lines", "retained_lines", "invoice_totals", "rejects", "unmatched")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_to_jsonl(text: str) -> str:
    """The records of a CSV text as JSON Lines; numeric values as JSON numbers."""
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for row in rows:
        obj: dict[str, Any] = {}
        for key, value in row.items():
            obj[key] = (
                json.loads(value) if value and NUMBER.fullmatch(value) and key != "record_id" else value
            )
        out.append(json.dumps(obj, ensure_ascii=False))
    return "".join(line + "\n" for line in out)


def as_parquet(text: str) -> bytes | None:
    """The records of a CSV text as a Parquet file of text columns (None without pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    rows = list(csv.DictReader(io.StringIO(text)))
    sink = io.BytesIO()
    pq.write_table(pa.table({name: [r[name] for r in rows] for name in rows[0]}), sink, row_group_size=16)
    return sink.getvalue()


def parquet_rows(data: bytes) -> int | None:
    """The rows a Parquet file's footer counts (None when it cannot be read)."""
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    except Exception:  # any damage: no count to compare with
        return None


def seeds() -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name in USAGE:
        lines = (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True)[: SEED_ROWS + 1]
        text = "".join(lines)
        found[f"csv-{name}"] = b"\x00" + text.encode()
        found[f"jsonl-{name}"] = b"\x01" + csv_to_jsonl(text).encode()
        parquet = as_parquet(text)
        if parquet is not None:
            found[f"parquet-{name}"] = b"\xff" + parquet
    found["fx"] = b"\x02" + (DATA / "fx-rates.csv").read_bytes()
    found["customers"] = b"\x03" + (DATA / "customers.csv").read_bytes()
    return found


def dictionary() -> list[bytes]:
    return [
        b"record_id",
        b"timestamp",
        b"customer_id",
        b"quantity",
        b"2026-03-31T23:59:59+02:00",
        b"2026-04-01T00:00:00+02:00",
        b"1e999999",
        b"NaN",
        b"-0",
        b"Infinity",
        b'""',
        b"\r\n",
        b"\xef\xbb\xbf",
        b"null",
        b"true",
        b"[]",
        b"{}",
        b"[[[[[[[[[[[[[[[[",
        b"\\ud800",
        b"\\u0000",
        b"\x00",
        b"1_000",
    ]


def expected_records(data: bytes, jsonl: bool) -> int | None:
    """How many records the file holds, counted independently of the readers (None: not UTF-8)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if jsonl:  # text files read with universal newlines; blank lines are not records
        return sum(1 for line in re.split(r"\r\n|\r|\n", text) if line.strip())
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if row)  # the first row is the header, even a blank one


def main() -> int:
    options = common.parse_args(NAME, __doc__ or "", max_len=8_192)
    with common.instrumented_imports(options):
        import clearline
        from clearline.diagnostics import CODES, ClearlineError

    plans, _ = clearline.load_plans(sorted((common.ROOT / "contracts").glob("*.contract")))
    folder = Path(tempfile.mkdtemp(prefix="clearline-fuzz-readers-"))
    out = folder / "run"

    def settle(
        usage: list[Path], fx: Path, customers: Path, run_dir: Path | None, batch: int
    ) -> clearline.Settlement:
        return clearline.run(
            plans, usage, "2026-03", fx=fx, customers=customers, out=run_dir, batch_size=batch
        )

    def one_input(data: bytes) -> None:
        if not data:
            return
        role = "usage.parquet" if data[0] == PARQUET else ROLES[data[0] % 4]
        body = data[1:]
        for old in folder.glob("input-*"):
            old.unlink()
        given = folder / f"input-{role}"
        given.write_bytes(body)
        usage = [DATA / USAGE[0], DATA / USAGE[1]]
        fx, customers = DATA / "fx-rates.csv", DATA / "customers.csv"
        if role.startswith("usage"):
            usage = [given]
        elif role == "fx.csv":
            fx = given
        else:
            customers = given
        try:
            result = settle(usage, fx, customers, out, 10_000)
        except ClearlineError as err:
            if not err.diagnostics or {d.code for d in err.diagnostics} - set(CODES):
                raise common.Finding("a run error without a registered code") from None
            consistent(out)  # a failed run leaves the folder as it was, or without a manifest
            try:
                settle(usage, fx, customers, None, 7)
            except ClearlineError:
                return
            raise common.Finding("the run fails in batches of 10000 and not of 7") from None
        check(result, out, body if role.startswith("usage") else None, role)
        again = settle(usage, fx, customers, None, 7)
        if (again.read, again.rated, _rows(again.rejects), _rows(again.unmatched)) != (
            result.read,
            result.rated,
            _rows(result.rejects),
            _rows(result.unmatched),
        ):
            raise common.Finding("records are accounted differently in batches of 7")
        if sorted(json.dumps(ln.row(), sort_keys=True) for ln in again.lines) != sorted(
            json.dumps(ln.row(), sort_keys=True) for ln in result.lines
        ):
            raise common.Finding("the lines differ in batches of 7")

    def consistent(run_dir: Path) -> None:
        """A folder with a manifest holds exactly the outputs the manifest hashes."""
        manifest_file = run_dir / "manifest.json"
        if not manifest_file.exists():
            return
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        for name, digest in manifest["outputs"].items():
            if hashlib.sha256((run_dir / name).read_bytes()).hexdigest() != digest:
                raise common.Finding(f"the folder has a manifest, but {name} is not the output it hashes")

    def check(result: clearline.Settlement, run_dir: Path, body: bytes | None, role: str) -> None:
        rejected, unmatched = len(result.rejects), len(result.unmatched)
        if result.read != result.rated + rejected + unmatched:
            raise common.Finding("read != rated + rejected + unmatched")
        if body is not None:
            if role == "usage.parquet":
                expected = parquet_rows(body)
            else:
                expected = expected_records(body, role == "usage.jsonl")
            if expected is not None and expected != result.read:
                raise common.Finding(f"the file holds {expected} record(s), the run read {result.read}")
        if not result.ok:
            raise common.Finding("conservation violated (as the run reports it)")
        sums: dict[tuple[str, str], Decimal] = {}
        for ln in result.lines:
            sign = {"invoice": 1, "payout": -1, "retained": -1}.get(ln.kind, 0)
            key = (ln.contract_id, ln.currency)
            sums[key] = sums.get(key, Decimal(0)) + sign * ln.amount
        if any(v != 0 for v in sums.values()):
            raise common.Finding("conservation violated (recomputed from the lines)")
        consistent(run_dir)
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        counts = manifest["counts"]
        if (counts["read"], counts["rated"], counts["rejected"], counts["unmatched"]) != (
            result.read,
            result.rated,
            rejected,
            unmatched,
        ) or counts["reconciled"] is not True:
            raise common.Finding("the manifest's counts differ from the run's")
        if manifest["conservation"]["ok"] is not True:
            raise common.Finding("the manifest reports conservation violated")
        for stem in (*LINE_STEMS, "rated_records"):
            with (run_dir / f"{stem}.csv").open(encoding="utf-8", newline="") as handle:
                csv_rows = list(csv.DictReader(handle))
            with (run_dir / f"{stem}.jsonl").open(encoding="utf-8", newline="") as handle:
                json_rows = [json.loads(line) for line in handle.read().split("\n") if line]
            if len(csv_rows) != len(json_rows):
                raise common.Finding(f"{stem}: {len(csv_rows)} CSV rows, {len(json_rows)} JSON lines")
            if stem == "rated_records":
                ids = [r["record_id"] for r in json_rows]
                if [r["record_id"] for r in csv_rows] != ids:
                    raise common.Finding("rated_records: the CSV and JSON Lines ids differ")
                if len(set(ids)) != result.rated:
                    raise common.Finding(f"{len(set(ids))} distinct rated ids, {result.rated} rated records")
        if sum(1 for _ in _csv(run_dir / "rejects.csv")) != rejected:
            raise common.Finding("rejects.csv does not hold every rejected record")
        if sum(1 for _ in _csv(run_dir / "unmatched.csv")) != unmatched:
            raise common.Finding("unmatched.csv does not hold every unmatched record")
        for line in (run_dir / "trace.jsonl").read_text(encoding="utf-8").split("\n"):
            if line:
                json.loads(line)

    try:
        return common.fuzz(NAME, ".bin", options, one_input, seeds(), dictionary())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _rows(rejects: list[Any]) -> list[tuple[str, ...]]:
    return sorted((r.file, str(r.line), r.record_id, r.field, r.value, r.reason) for r in rejects)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


if __name__ == "__main__":
    sys.exit(main())
