"""Bad input never loses a record or crashes a run.

- Byte-level mutations (insert, delete, flip, duplicate a slice, truncate) of
  every bundled contract load to plans or to a `ClearlineError` whose
  diagnostics carry registered codes and render; never another exception.
- The same mutations of every bundled data file (the usage files as CSV and
  as JSON Lines, the FX rates, the customers) settle with every record
  accounted for (read = rated + rejected + unmatched in the result and the
  manifest, read = the records the file holds) and money conserved, or end
  in a `ClearlineError` with a code for a file-level problem.
- The command line on a few mutated files prints no traceback and exits 0,
  1 or 3.
- A run killed with SIGKILL in the middle leaves no manifest and no final
  file; a rerun into the same folder gives the bytes of a fresh run.

The fuzzing harnesses in fuzz/ run the same checks for longer
(docs/fuzzing.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.compiler import ir
from clearline.compiler.lower import lower_contract
from clearline.diagnostics import CODES, ClearlineError, render_all
from clearline.grammar import ast
from clearline.runtime.store.folder import MARKER
from clearline.source import SourceFile
from conftest import CONTRACTS, DATA, PERIOD, text_parquet

CONTRACT_FILES = sorted(CONTRACTS.glob("*.contract"))
USAGE_FILES = sorted(p for p in DATA.glob("*.csv") if p.name not in {"fx-rates.csv", "customers.csv"})
REFERENCE_FILES = {"fx": DATA / "fx-rates.csv", "customers": DATA / "customers.csv"}
MUTATIONS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NUMBER = re.compile(r"-?\d+(\.\d+)?")
INTERESTING = [
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\r\n",
    b"\\",
    b"{",
    b"}",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"-",
    b"1e999999",
    b"NaN",
    b"%",
    b"\xe2\x80\xa8",  # U+2028, a line separator for str.splitlines()
]


# --- mutations ------------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after one to four byte-level edits."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["insert", "delete", "flip", "duplicate", "truncate"]))
        at = draw(st.integers(0, len(out)))
        if edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(INTERESTING))
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 32))]
        elif edit == "flip" and out:
            out[min(at, len(out) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif edit == "duplicate" and out:
            start = draw(st.integers(0, len(out) - 1))
            out[at:at] = out[start : start + draw(st.integers(1, 200))]
        elif edit == "truncate":
            del out[at:]
    return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded edit of the same kinds (for the command-line checks)."""
    at = rng.randrange(len(data) + 1)
    edit = rng.randrange(5)
    if edit == 0:
        return data[:at] + rng.choice(INTERESTING) + data[at:]
    if edit == 1:
        return data[:at] + data[at + rng.randint(1, 32) :]
    if edit == 2 and data:
        i = min(at, len(data) - 1)
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
    if edit == 3:
        start = rng.randrange(len(data) + 1)
        return data[:at] + data[start : start + rng.randint(1, 200)] + data[at:]
    return data[:at]


def csv_to_jsonl(data: bytes) -> bytes:
    """The records of a CSV file as JSON Lines; numbers as JSON numbers (never float)."""
    lines = []
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        obj = {
            k: json.loads(v) if v and k != "record_id" and NUMBER.fullmatch(v) else v for k, v in row.items()
        }
        lines.append(json.dumps(obj, ensure_ascii=False) + "\n")
    return "".join(lines).encode()


def records_in(data: bytes, jsonl: bool) -> int | None:
    """How many records a usage file holds, counted without Clearline (None: unreadable)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if jsonl:  # read with universal newlines; blank lines are not records
        return sum(1 for line in re.split(r"\r\n|\r|\n", text) if line.strip())
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if row)  # the first row is the header, even a blank one


@cache
def bundled_plans() -> tuple[ir.ContractPlan, ...]:
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    return tuple(plans)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # one folder for all examples: hypothesis runs many examples per test call
    with tempfile.TemporaryDirectory(prefix="clearline-robustness-") as tmp:
        yield Path(tmp)


def assert_diagnostics(err: ClearlineError, sources: dict[str, SourceFile] | None = None) -> None:
    assert err.diagnostics, "a ClearlineError without diagnostics"
    assert {d.code for d in err.diagnostics} <= set(CODES), err.diagnostics
    render_all(err.diagnostics, sources)


# --- contracts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.stem)
@settings(MUTATIONS, max_examples=250)
@given(data=st.data())
def test_a_mutated_contract_loads_or_gets_diagnostics(scratch: Path, path: Path, data: st.DataObject) -> None:
    text = data.draw(mutated(path.read_bytes()), label="contract")
    target = scratch / "contract" / path.name
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(text)
    try:
        plans, warnings = clearline.load_plans([target])
    except ClearlineError as err:
        try:
            sources = {str(target): SourceFile(str(target), text.decode("utf-8-sig"))}
        except UnicodeDecodeError:
            sources = {}
        assert_diagnostics(err, sources)
        return
    assert {d.code for d in warnings} <= set(CODES)
    for plan in plans:
        assert ir.from_json(json.loads(json.dumps(ir.to_json(plan)))) == plan


@pytest.mark.parametrize(
    ("written", "instead"),
    [
        ("version 1", "version ١"),  # Arabic-Indic digit one
        ("2026-01-01", "٢٠٢٦-٠١-٠١"),
        ("0.0150 EUR", "٠.٠١٥٠ EUR"),
        ("increments 30/6", "increments ３0/6"),  # a fullwidth digit
        ("half up to 0.0001", "half up to ０.0001"),
    ],
)
def test_numbers_in_a_contract_are_ascii_digits(tmp_path: Path, written: str, instead: str) -> None:
    """Found probing the front end: the grammar read any Unicode digit as a digit (Python's
    \\d), so a price in Arabic-Indic digits was taken as written while the same digits in a
    date were "not a date in the calendar". A contract's numbers are written 0-9, or the
    caret shows the digit."""
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    assert written in text
    path = tmp_path / "digits.contract"
    path.write_text(text.replace(written, instead, 1), encoding="utf-8")
    with pytest.raises(ClearlineError) as info:
        clearline.load_plans([path])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E0103"
    assert diagnostic.span is not None
    line = text.replace(written, instead, 1).splitlines()[diagnostic.span.line - 1]
    assert not line[diagnostic.span.col - 1].isascii()


LONG_DECIMALS = "0." + "0" * 60 + "1"


@pytest.mark.parametrize(
    ("written", "number", "message"),
    [
        ("0.0001", LONG_DECIMALS, "this number has 61 decimals"),
        ("0.0150", "9" * 60, "this number has 60 significant digits"),
        ("30/6", "30/" + "9" * 51, "this number has 51 significant digits"),
    ],
    ids=["quantum", "price", "increment"],
)
def test_a_number_beyond_the_decimal_context_is_a_diagnostic(
    tmp_path: Path, written: str, number: str, message: str
) -> None:
    """Found probing the front end: such a contract validated, then every record it rated was
    rejected at run time ("arithmetic outside the supported range"), and its worked example
    failed. A contract's numbers are read in the range records are read in."""
    path = tmp_path / "long.contract"
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8").replace(written, number, 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClearlineError) as info:
        clearline.load_plans([path])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E0207"
    assert diagnostic.message.startswith(message), diagnostic.message
    assert diagnostic.span is not None
    shown = text.splitlines()[diagnostic.span.line - 1][diagnostic.span.col - 1 : diagnostic.span.end_col - 1]
    assert shown == number.split("/")[-1]  # the caret under the whole number


class CountingSource:
    """A source file that counts how often its text is read."""

    def __init__(self, source: SourceFile) -> None:
        self.name, self._text, self.reads = source.name, source.text, 0

    @property
    def text(self) -> str:
        self.reads += 1
        return self._text


def test_lowering_reads_each_source_once_however_many_rules() -> None:
    """Found probing the front end: lowering split the whole file into lines for every rule
    and clause, so a contract of 4,000 products took 23 s to validate (2 s now)."""
    base = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    products = "".join(
        f'  product p{i} "P{i}" {{\n    matches service = "v{i}"\n    measured in seconds\n'
        f'    clause "9.{i}" {{\n      pay nordcarrier 0.0010 EUR per minute\n'
        f"      round each line half up to 0.01\n    }}\n  }}\n"
        for i in range(200)
    )
    source = SourceFile("many.contract", base.replace('  example "Two', products + '  example "Two'))
    contract = clearline.parse(source)
    assert isinstance(contract, ast.Contract)
    assert [d for d in clearline.check(contract) if d.is_error] == []
    counting = CountingSource(source)
    plan = lower_contract(contract, {source.name: counting})  # a stand-in with the same text
    assert len(plan.products) == 201
    assert counting.reads <= 2  # its lines, and its hash


# --- usage and reference data ---------------------------------------------------------------------


def settle(scratch: Path, usage: list[Path], fx: Path, customers: Path) -> clearline.Settlement | None:
    """Settle March with the bundled contracts; None when the run stops with a ClearlineError."""
    out = scratch / "run"
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = clearline.run(bundled_plans(), usage, PERIOD, fx=fx, customers=customers, out=out)
    except ClearlineError as err:
        assert_diagnostics(err)
        assert not (out / "manifest.json").exists(), "a failed run left a manifest"
        return None
    assert_accounted_for(result, out)
    return result


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def assert_accounted_for(result: clearline.Settlement, out: Path) -> None:
    rejected, unmatched = len(result.rejects), len(result.unmatched)
    assert result.read == result.rated + rejected + unmatched
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    assert (counts["read"], counts["rated"], counts["rejected"], counts["unmatched"]) == (
        result.read,
        result.rated,
        rejected,
        unmatched,
    )
    assert counts["reconciled"] is True
    assert len(read_rows(out / "rejects.csv")) == rejected
    assert len(read_rows(out / "unmatched.csv")) == unmatched
    assert all(r["reason"] for r in read_rows(out / "rejects.csv"))
    # conservation, as the run reports it and recomputed from the line files
    assert result.ok and manifest["conservation"]["ok"] is True
    sums: dict[tuple[str, str], Decimal] = {}
    for stem, sign in (("invoice_lines", 1), ("payout_lines", -1), ("retained_lines", -1)):
        for row in read_rows(out / f"{stem}.csv"):
            if row["kind"] == "withholding":  # tax withheld from a payout, not a split of the net
                continue
            key = (row["contract_id"], row["currency"])
            sums[key] = sums.get(key, Decimal(0)) + sign * Decimal(row["amount"])
    assert all(total == 0 for total in sums.values()), sums


def usage_cases() -> list[Any]:
    return [
        pytest.param(path, fmt, id=f"{path.stem}-{fmt}") for path in USAGE_FILES for fmt in ("csv", "jsonl")
    ]


@pytest.mark.parametrize(("path", "fmt"), usage_cases())
@MUTATIONS
@given(data=st.data())
def test_mutated_usage_settles_with_every_record_accounted_for(
    scratch: Path, path: Path, fmt: str, data: st.DataObject
) -> None:
    original = path.read_bytes() if fmt == "csv" else csv_to_jsonl(path.read_bytes())
    body = data.draw(mutated(original), label="usage")
    usage = scratch / f"usage.{fmt}"
    usage.write_bytes(body)
    result = settle(scratch, [usage], REFERENCE_FILES["fx"], REFERENCE_FILES["customers"])
    if result is not None:
        expected = records_in(body, fmt == "jsonl")
        if expected is not None:
            assert result.read == expected, "records were lost or invented"


@cache
def as_parquet(path: Path) -> bytes:
    """A usage CSV as a Parquet file of text columns, in small row groups (so that
    mutations land in pages, dictionaries and the footer alike)."""
    with tempfile.TemporaryDirectory() as folder:
        return text_parquet(path, Path(folder) / "usage.parquet", row_group_size=200).read_bytes()


@pytest.mark.parametrize("path", USAGE_FILES, ids=[p.stem for p in USAGE_FILES])
@MUTATIONS
@given(data=st.data())
def test_mutated_parquet_settles_or_is_a_file_error(scratch: Path, path: Path, data: st.DataObject) -> None:
    """Byte edits of a Parquet file: a diagnostic (E0501, the file cannot be read), or
    a run with every record it read accounted for -- never an unhandled exception."""
    body = data.draw(mutated(as_parquet(path)), label="usage")
    usage = scratch / "usage.parquet"
    usage.write_bytes(body)
    settle(scratch, [usage], REFERENCE_FILES["fx"], REFERENCE_FILES["customers"])


@pytest.mark.parametrize("role", sorted(REFERENCE_FILES))
@MUTATIONS
@given(data=st.data())
def test_mutated_reference_data_settles_or_is_a_file_error(
    scratch: Path, role: str, data: st.DataObject
) -> None:
    body = data.draw(mutated(REFERENCE_FILES[role].read_bytes()), label=role)
    given_file = scratch / f"{role}.csv"
    given_file.write_bytes(body)
    files = {**REFERENCE_FILES, role: given_file}
    usage = [DATA / "streamplus-subscriptions.csv", DATA / "nordcarrier-cdrs.csv"]
    result = settle(scratch, usage, files["fx"], files["customers"])
    if result is not None:
        assert result.read == 12


# --- the command line -----------------------------------------------------------------------------


def cli(args: list[str]) -> int:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result.exit_code


@pytest.mark.parametrize("path", [*CONTRACT_FILES, *USAGE_FILES], ids=lambda p: p.name)
def test_the_command_line_on_mutated_files(tmp_path: Path, path: Path) -> None:
    rng = random.Random(path.name)
    for n in range(3):
        body = mutate(path.read_bytes(), rng)
        broken = tmp_path / f"{n}-{path.name}"
        broken.write_bytes(body)
        if path.suffix == ".contract":
            contracts, usage = [str(broken)], [str(u) for u in USAGE_FILES]
            assert cli(["validate", str(broken)]) in {0, 1}
        else:
            contracts, usage = [str(c) for c in CONTRACT_FILES], [str(broken)]
        args = ["simulate", *contracts, "--period", PERIOD, "--out", str(tmp_path / f"run{n}")]
        args += ["--fx", str(DATA / "fx-rates.csv"), "--customers", str(DATA / "customers.csv")]
        for u in usage:
            args += ["--usage", u]
        assert cli(args) in {0, 1, 3}


# --- an interrupted run ---------------------------------------------------------------------------


def write_cdrs(path: Path, count: int) -> None:
    """`count` valid NordCarrier CDRs in March 2026 (before the switch to summer time)."""
    rng = random.Random(count)
    prefixes = ["4860", "4822", "4930", "4912", "48"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("record_id,timestamp,customer_id,service,destination,quantity,unit\n")
        lines = []
        for i in range(count):
            second = rng.randrange(86_400)
            lines.append(
                f"CDR-{i:07d},2026-03-{1 + i % 28:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:"
                f"{second % 60:02d}+01:00,C-{1000 + i % 50},voice-out,"
                f"{rng.choice(prefixes)}{rng.randrange(10**6):06d},{rng.randrange(600)},s\n"
            )
        handle.write("".join(lines))


def simulate_command(usage: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "clearline.cli",
        "simulate",
        str(CONTRACTS / "nordcarrier.contract"),
        "--usage",
        str(usage),
        "--period",
        PERIOD,
        "--out",
        str(out),
    ]


def child_env() -> dict[str, str]:
    # the child imports the Clearline these tests import (a checkout, or a clean copy of one)
    source = str(Path(clearline.__file__).resolve().parent.parent)
    paths = [source, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def kill_while_streaming(usage: Path, out: Path) -> bool:
    """Start a run and SIGKILL it once it has streamed rated records; False if it ended first."""
    child = subprocess.Popen(
        simulate_command(usage, out), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while child.poll() is None:
            try:
                # temporary names are unpredictable: .rated_records.csv.RANDOM.partial
                partials = list(out.glob(".rated_records.csv.*.partial")) if out.is_dir() else []
                if partials and partials[0].stat().st_size > 64 * 1024:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    return True
            except FileNotFoundError:
                pass
            time.sleep(0.001)
        return False
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stderr is not None
        child.stderr.close()


def test_a_killed_run_never_looks_complete_and_a_rerun_gives_the_same_bytes(tmp_path: Path) -> None:
    usage = tmp_path / "cdrs.csv"
    out = tmp_path / "killed"
    for count in (200_000, 1_000_000):  # a faster machine needs a longer file to be caught midway
        write_cdrs(usage, count)
        shutil.rmtree(out, ignore_errors=True)
        if kill_while_streaming(usage, out):
            break
    else:
        pytest.fail("every run finished before it could be killed midway")
    left = sorted(p.name for p in out.iterdir())
    assert "manifest.json" not in left
    # the marker (the folder's lock, saying it is a run folder) stays
    assert [name for name in left if not name.endswith(".partial")] == [MARKER], left

    for folder in (out, tmp_path / "fresh"):
        done = subprocess.run(
            simulate_command(usage, folder), env=child_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    again = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    fresh = {p.name: p.read_bytes() for p in sorted((tmp_path / "fresh").iterdir())}
    assert sorted(again) == sorted(fresh)
    assert "manifest.json" in again and not [n for n in again if n.endswith(".partial")]
    for name in fresh:
        assert again[name] == fresh[name], name


# --- runtime and CLI findings (docs/fuzzing.md): regression tests; strict xfails while open --------


CDR_HEADER = "record_id,timestamp,customer_id,service,destination,quantity,unit"


def cdr(record_id: str, destination: str = "4860123456") -> str:
    return f"{record_id},2026-03-01T10:00:00+01:00,C-1001,voice-out,{destination},61,s"


def jsonl_cdr(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "timestamp": "2026-03-01T10:00:00+01:00",
        "customer_id": "C-1001",
        "service": "voice-out",
        "destination": "4860123456",
        "quantity": 61,
        "unit": "s",
        **fields,
    }


def test_a_csv_record_starting_with_nul_keeps_its_id_and_reason(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(f"{CDR_HEADER}\n\x00{cdr('CDR-9')}\n\x00\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], PERIOD)
    assert result.read == 2 and result.rated == 0
    first, second = sorted(result.rejects + result.unmatched, key=lambda r: r.line)
    assert first.record_id == "\x00CDR-9" and first.reason not in {"", "CDR-9"}
    assert second.reason != ""


def test_a_number_with_underscores_or_non_ascii_digits_is_rejected(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    rows = [cdr(f"Q-{i}").replace(",61,", f",{q},") for i, q in enumerate(["1_000", "١٢٣", "１２"])]
    usage.write_text("\n".join([CDR_HEADER, *rows]) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], PERIOD)
    assert result.rated == 0
    assert sorted((r.record_id, r.field) for r in result.rejects) == [
        ("Q-0", "quantity"),
        ("Q-1", "quantity"),
        ("Q-2", "quantity"),
    ]


def test_a_deeply_nested_json_record_is_a_reject(tmp_path: Path) -> None:
    usage = tmp_path / "usage.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    usage.write_text(
        json.dumps(jsonl_cdr("A")) + "\n" + '{"record_id": "B", "extra": ' + deep + "}\n", encoding="utf-8"
    )
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], PERIOD)
    assert (result.read, result.rated, len(result.rejects)) == (2, 1, 1)
    assert result.rejects[0].line == 2


def test_a_lone_surrogate_in_a_json_record_is_a_reject(tmp_path: Path) -> None:
    usage = tmp_path / "usage.jsonl"
    lines = [jsonl_cdr("A"), jsonl_cdr("B\ud800"), jsonl_cdr("C", quantity="6\udfff1")]
    usage.write_text("".join(json.dumps(obj) + "\n" for obj in lines), encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], PERIOD, out=tmp_path / "run")
    assert (result.read, result.rated) == (3, 1)
    for path in (tmp_path / "run").iterdir():
        path.read_text(encoding="utf-8")  # every output is valid UTF-8


def test_an_oversized_csv_field_is_reported_on_its_own_line(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    rows = [CDR_HEADER, cdr("A"), cdr("B", "4" * 200_000), cdr("C"), cdr("D")]
    usage.write_text("\n".join(rows) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    try:
        result = clearline.run(plans, [usage], PERIOD)
    except ClearlineError as err:
        (diagnostic,) = err.diagnostics
        assert f"{usage}:3:" in diagnostic.message, diagnostic.message
    else:
        assert (result.read, result.rated) == (4, 3)
        assert [r.line for r in result.rejects] == [3]


@pytest.mark.parametrize(
    "trace",
    ['{"line_id": "x"\n', '{"kind": "payout"}\n', "not json at all\n"],
    ids=["cut-short", "no-line-id", "not-json"],
)
def test_explain_on_a_damaged_trace_is_an_error_not_a_crash(
    march_run: Path, tmp_path: Path, trace: str
) -> None:
    run = tmp_path / "run"
    shutil.copytree(march_run, run)
    line_id = read_rows(run / "payout_lines.csv")[0]["line_id"]
    (run / "trace.jsonl").write_text(trace, encoding="utf-8")
    result = CliRunner().invoke(app, ["explain", str(run), line_id])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "E0501" in result.output


@pytest.mark.parametrize("period", ["２０２６-03", "٢٠٢٦-٠٣"], ids=["fullwidth", "arabic-indic"])
def test_a_period_in_non_ascii_digits_is_refused(period: str) -> None:
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    with pytest.raises(ClearlineError) as info:
        clearline.run(plans, [DATA / "nordcarrier-cdrs.csv"], period)
    assert [d.code for d in info.value.diagnostics] == ["E0505"]


def test_a_reject_for_arithmetic_out_of_range_reads_without_python(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(CDR_HEADER + "\n" + cdr("A").replace(",61,", ",1E+60,") + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    result = clearline.run(plans, [usage], PERIOD)
    (reject,) = result.rejects
    assert reject.record_id == "A"
    assert "<class" not in reject.reason and "InvalidOperation" not in reject.reason, reject.reason


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_run_of_blank_lines_loses_no_record(tmp_path: Path, fmt: str) -> None:
    """Found replaying the fuzzing corpus: the JSON Lines reader stopped at a run of blank
    lines as long as a batch, and lost every record after it (fixed in e45c5da)."""
    gap = "\n" * 20
    if fmt == "jsonl":
        text = "".join(json.dumps(jsonl_cdr(rid)) + "\n" + gap for rid in "ABC")
    else:
        text = CDR_HEADER + "\n" + "".join(cdr(rid) + "\n" + gap for rid in "ABC")
    usage = tmp_path / f"usage.{fmt}"
    usage.write_text(text, encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    for batch_size in (10_000, 5):
        result = clearline.run(plans, [usage], PERIOD, batch_size=batch_size)
        assert (result.read, result.rated) == (3, 3), batch_size


def test_a_quoted_line_break_does_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    rows = [f'{cdr(f"R-{i}")},"line one\nline two"' for i in range(5)]
    usage.write_text("\n".join([f"{CDR_HEADER},note", *rows]) + "\n", encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    for batch_size in (10_000, 1, 2, 3):
        result = clearline.run(plans, [usage], PERIOD, batch_size=batch_size)
        assert (result.read, result.rated, len(result.rejects)) == (5, 5, 0), batch_size


def test_a_header_spanning_lines_is_read_as_csv_reads_it_or_refused(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(f'{CDR_HEADER},no"te,"x\ny"\n{cdr("R-1")},a,b\n', encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    try:
        result = clearline.run(plans, [usage], PERIOD)
    except ClearlineError as err:
        assert [d.code for d in err.diagnostics] == ["E0501"]
    else:
        assert (result.read, result.rated) == (1, 1)


def test_a_carriage_return_in_a_value_is_quoted_in_every_csv_output(tmp_path: Path) -> None:
    """Fuzz finding 19: csv.writer quotes only the characters of its line ending ("\\n"),
    so an id or value holding a lone CR went out bare and split its row when read back."""
    usage = tmp_path / "usage.jsonl"
    records = [
        {"record_id": "A\rB", "timestamp": "2026-03-02T10:00:00+01:00", "customer_id": "C-1001"},
        {"record_id": "C\rD", "timestamp": "2026-03-02T10:00:00+01:00", "customer_id": "C-1001"},
    ]
    records[0] |= {"service": "voice-out", "destination": "4860123456", "quantity": "61", "unit": "s"}
    records[1] |= {"service": "voice-out", "destination": "4860123456", "quantity": "6\r1", "unit": "s"}
    usage.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "out"
    clearline.run(plans, [usage], PERIOD, out=out)
    for stem, expected in (("rated_records", ["A\rB"]), ("rejects", ["C\rD"])):
        with (out / f"{stem}.csv").open(encoding="utf-8", newline="") as handle:
            assert [row["record_id"] for row in csv.DictReader(handle)] == expected, stem
        lines = (out / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["record_id"] for line in lines] == expected, stem
    (reject,) = read_rows(out / "rejects.csv")
    assert (reject["field"], reject["value"]) == ("quantity", "6\r1")
