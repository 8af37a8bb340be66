"""The command line as a user sees it, on the example contracts.

Output that users read is pinned in golden files under `tests/golden/`
(`compile` as text and as JSON, `explain` of a payout). When a change to
that output is intended, rewrite the goldens and review the diff:

    CLEARLINE_UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_cli.py
    git diff tests/golden/

Commands run with the working directory at the repository root (or at a
copy of the example contracts) and relative paths, so the paths printed in
the output, and so the goldens, do not depend on where the checkout lives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import clearline
from clearline.cli import app
from clearline.compiler import ir
from conftest import ROOT, read_csv

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDENS = os.environ.get("CLEARLINE_UPDATE_GOLDENS") == "1"

DEMO_USAGE = [
    "--usage",
    "contracts/data/streamplus-subscriptions.csv",
    "--usage",
    "contracts/data/nordcarrier-cdrs.csv",
]
DEMO_REFERENCE = [
    "--period",
    "2026-03",
    "--fx",
    "contracts/data/fx-rates.csv",
    "--customers",
    "contracts/data/customers.csv",
]
RUN_FILES = [
    *(
        f"{stem}.{ext}"
        for stem in (
            "invoice_lines",
            "payout_lines",
            "retained_lines",
            "rated_records",
            "rejects",
            "unmatched",
        )
        for ext in ("csv", "jsonl")
    ),
    "trace.jsonl",
    "manifest.json",
]


def invoke(args: Sequence[str]) -> Result:
    """Run the CLI in-process; anything but a clean exit is a test failure."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"clearline {' '.join(args)} raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    return result


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDENS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    assert path.exists(), f"{path} is missing: run with CLEARLINE_UPDATE_GOLDENS=1 to write it"
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"output differs from {path} (CLEARLINE_UPDATE_GOLDENS=1 rewrites it)"


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- compile -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["streamplus", "nordcarrier"])
def test_compile_prints_the_readable_plan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke(["compile", f"contracts/{name}.contract"])
    assert result.exit_code == 0, result.output
    assert_golden(f"compile-{name}.txt", result.stdout)


@pytest.mark.parametrize("name", ["streamplus", "nordcarrier"])
def test_compile_json_prints_the_serialised_plan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke(["compile", f"contracts/{name}.contract", "--json"])
    assert result.exit_code == 0, result.output
    assert_golden(f"compile-{name}.json", result.stdout)
    plan = clearline.plan(clearline.read_source(f"contracts/{name}.contract"))
    assert ir.from_json(json.loads(result.stdout)) == plan


# --- simulate: the README demo ---------------------------------------------------------


def demo(out: Path) -> Result:
    return invoke(["simulate", "contracts", *DEMO_USAGE, *DEMO_REFERENCE, "--out", str(out)])


def test_simulate_the_demo_prints_the_scenario_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = demo(tmp_path / "run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for title in ("Records, period 2026-03", "Lines per party", "Conservation: net revenue"):
        assert title in out
    streamco = next(line for line in out.splitlines() if "streamco" in line)
    assert "81.65" in streamco and "19.21 EUR" in streamco
    nordcarrier = next(line for line in out.splitlines() if "nordcarrier" in line)
    assert "0.08" in nordcarrier and "EUR" in nordcarrier
    sp_check = next(line for line in out.splitlines() if "SP-2026" in line)
    assert re.search(r"148\.45\s.*81\.65\s.*66\.80\s.*ok", sp_check), sp_check
    nc_check = next(line for line in out.splitlines() if "NC-2026" in line)
    assert re.search(r"0\.08\s.*-0\.08\s.*ok", nc_check), nc_check
    assert "VIOLATED" not in out
    assert f"run folder: {tmp_path / 'run'}" in out


def test_simulate_writes_every_file_of_a_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert demo(tmp_path).exit_code == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert set(RUN_FILES) <= names
    assert not [n for n in names if n.endswith(".partial")]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["reconciled"] is True
    assert manifest["conservation"]["ok"] is True
    assert set(RUN_FILES) - {"manifest.json"} <= set(manifest["outputs"])
    for name in RUN_FILES:
        if name.endswith(".jsonl"):
            stem = name.removesuffix(".jsonl")
            lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines]
            if (tmp_path / f"{stem}.csv").exists():
                assert len(rows) == len(read_csv(tmp_path / f"{stem}.csv")), name


def test_simulate_twice_gives_byte_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first, second = demo(tmp_path / "a"), demo(tmp_path / "b")
    assert first.exit_code == second.exit_code == 0
    a, b = folder_bytes(tmp_path / "a"), folder_bytes(tmp_path / "b")
    assert set(RUN_FILES) <= set(a)
    assert a == b


def test_simulate_again_into_the_same_folder_replaces_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert demo(tmp_path).exit_code == 0
    before = folder_bytes(tmp_path)
    assert demo(tmp_path).exit_code == 0
    assert folder_bytes(tmp_path) == before


# --- simulate: records that cannot be settled ------------------------------------------

BAD_USAGE = """\
record_id,timestamp,customer_id,service,destination,quantity,unit
CDR-1001,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,61,s
CDR-1001,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,30,s
CDR-1002,2026-03-02T10:00:00,C-1001,voice-out,4860123456,61,s
CDR-1003,2026-03-03T10:00:00+01:00,C-1001,voice-out,4860123456,sixty,s
CDR-1004,2026-03-04T10:00:00+01:00,C-1001,fax-out,4860123456,61,s
CDR-1005,2026-04-02T10:00:00+02:00,C-1001,voice-out,4860123456,61,s
CDR-1006,2026-03-05T10:00:00+01:00,C-1002,voice-out,48221234567,59,s
"""


def test_simulate_with_bad_records_exits_3_and_explains_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    usage = tmp_path / "bad-cdrs.csv"
    usage.write_text(BAD_USAGE, encoding="utf-8")
    out = tmp_path / "run"
    result = invoke(
        [
            "simulate",
            "contracts",
            "--usage",
            "contracts/data/streamplus-subscriptions.csv",
            "--usage",
            str(usage),
            *DEMO_REFERENCE,
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 3, result.output
    assert "completed with 4 rejected and 1 unmatched record(s)" in result.stderr
    rejects = {r["record_id"]: r for r in read_csv(out / "rejects.csv")}
    expected = {
        # record id: (line, field, words of the reason)
        "CDR-1001": ("3", "record_id", f"duplicate record id: first read at {usage}:2"),
        "CDR-1002": ("4", "timestamp", "has no UTC offset"),
        "CDR-1003": ("5", "quantity", "`quantity`: 'sixty' is not a number"),
        "CDR-1005": ("7", "timestamp", "outside the settled period 2026-03"),
    }
    assert set(rejects) == set(expected)
    for rid, (line, field, reason) in expected.items():
        row = rejects[rid]
        assert (row["file"], row["line"], row["field"]) == (str(usage), line, field), row
        assert reason in row["reason"], row
    (unmatched,) = read_csv(out / "unmatched.csv")
    assert (unmatched["record_id"], unmatched["line"]) == ("CDR-1004", "6")
    assert "no product" in unmatched["reason"]
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts["read"] == 6 + 7
    assert (counts["rated"], counts["rejected"], counts["unmatched"]) == (6 + 2, 4, 1)
    assert counts["reconciled"] is True
    rated = {r["record_id"] for r in read_csv(out / "rated_records.csv")}
    assert {"CDR-1001", "CDR-1006"} <= rated and not rated & {"CDR-1002", "CDR-1003", "CDR-1004", "CDR-1005"}


INTEGER_CONTRACT = """\
contract IOT-1 "SIM fees" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in EUR, time zone Europe/Warsaw
  operator op "Operator" currency EUR
  usage fields {
    service     text
    active_sims integer
  }
  product iot "IoT" {
    matches service = "data"
    clause "2.1 SIM fee" {
      charge customer 0.80 EUR per month times the maximum of active_sims
      round each line half up to 0.01
    }
  }
}
"""


def test_a_non_integer_value_of_an_integer_field_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("iot.contract").write_text(INTEGER_CONTRACT, encoding="utf-8")
    Path("usage.csv").write_text(
        "record_id,timestamp,customer_id,service,active_sims\n"
        "IOT-1,2026-03-05T12:00:00+01:00,B-2001,data,1500\n"
        "IOT-2,2026-03-06T12:00:00+01:00,B-2001,data,1500.5\n",
        encoding="utf-8",
    )
    result = invoke(
        ["simulate", "iot.contract", "--usage", "usage.csv", "--period", "2026-03", "--out", "run"]
    )
    assert result.exit_code == 3, result.output
    (reject,) = read_csv(Path("run/rejects.csv"))
    assert (reject["record_id"], reject["line"], reject["field"]) == ("IOT-2", "3", "active_sims")


# --- explain ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explained_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """StreamPlus and NordCarrier settled in a copy of the examples; cwd is that copy.

    The run folder is `run` and contract paths are relative, so `explain`
    prints the same text wherever the tests run.
    """
    base = tmp_path_factory.mktemp("explain")
    (base / "contracts").mkdir()
    for name in ("streamplus.contract", "nordcarrier.contract"):
        shutil.copy(ROOT / "contracts" / name, base / "contracts" / name)
    shutil.copytree(ROOT / "contracts" / "data", base / "contracts" / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        result = invoke(
            [
                "simulate",
                "contracts/streamplus.contract",
                "contracts/nordcarrier.contract",
                *DEMO_USAGE,
                *DEMO_REFERENCE,
                "--out",
                "run",
            ]
        )
        assert result.exit_code == 0, result.output
        yield base / "run"


def line_id(run: Path, stem: str, **match: str) -> str:
    rows = [r for r in read_csv(run / f"{stem}.csv") if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, rows
    return rows[0]["line_id"]


def test_explain_streamco_payout(explained_run: Path) -> None:
    lid = line_id(explained_run, "payout_lines", party="streamco")
    result = invoke(["explain", "run", lid])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{lid}  payout streamco  81.65 PLN  (paid 19.21 EUR)" in out
    assert "clause 4.2 Revenue share — StreamCo receives 55% of net revenue" in out
    assert "contracts/streamplus.contract:25:5" in out
    assert '  25 |     clause "4.2 Revenue share"' in out  # the source excerpt, numbered
    assert "27 |       pay streamco the larger of 55% of net and 18.00 PLN per subscriber-month" in out
    assert "C-1004: the larger of (55% × net 18.87 = 10.3785) and (18.00 PLN × 15 / 31 days = 8.70" in out
    assert "C-1005: the larger of (55% × net 12.58 = 6.9190)" in out
    assert "sum  81.6475" in out
    assert "line: half up to 0.01: 81.6475 -> 81.65" in out
    assert "FX (period end, table fx-rates.csv, clause 6.1 Payment currency)" in out
    assert "2026-03-31: 81.65 PLN / 4.2500 = 19.2117647058" in out
    assert "rounded half up to 0.01 -> 19.21 EUR" in out
    assert_golden("explain-streamco-payout.txt", out)


def test_explain_nordcarrier_prefix_line_shows_its_records(explained_run: Path) -> None:
    lid = line_id(explained_run, "payout_lines", party="nordcarrier", quantity="96")
    result = invoke(["explain", "run", lid])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{lid}  payout nordcarrier  0.03 EUR" in out
    assert "clause 5.1 Termination rates" in out
    assert (
        'CDR-0001: rate "4860" from table termination: 66 seconds × 0.0150 EUR / 60 seconds per minute'
        " + connect fee 0.0010 = 0.0175" in out
    )
    assert "line: half up to 0.01: 0.0260 -> 0.03" in out
    assert "records  2" in out and "CDR-0001, CDR-0002" in out
    listed = invoke(["explain", "run", lid, "--records"])
    assert listed.exit_code == 0
    assert "CDR-0001  66  0.0175" in listed.stdout and "CDR-0002  30  0.0085" in listed.stdout
    assert_golden("explain-nordcarrier-4860.txt", out)


def test_explain_unknown_line_suggests_the_nearest(explained_run: Path) -> None:
    lid = line_id(explained_run, "payout_lines", party="streamco")
    wrong = lid[:-1] + ("0" if lid[-1] != "0" else "1")
    result = invoke(["explain", "run", wrong])
    assert result.exit_code == 1
    assert f"error[E0401]: no line {wrong} in run" in result.stderr
    assert f"did you mean `{lid}`?" in result.stderr


def test_explain_a_folder_without_manifest(tmp_path: Path) -> None:
    result = invoke(["explain", str(tmp_path), "P-0000000000"])
    assert result.exit_code == 1
    assert "error[E0501]" in result.stderr and "no manifest.json" in result.stderr


def test_explain_a_folder_without_trace(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["explain", str(tmp_path), "P-0000000000"])
    assert result.exit_code == 1
    assert "error[E0501]" in result.output


# --- bad input is a diagnostic, never a traceback ----------------------------------------

SYNTAX_ERROR = """\
contract BROKEN "A contract with a syntax error" {
  version 1
  effective 2026-01-01 until
  settle monthly in EUR, time zone Europe/Warsaw
}
"""


def assert_diagnostic(result: Result, code: str, *words: str) -> None:
    assert result.exit_code not in (0, 70), result.output
    assert f"error[{code}]" in result.output, result.output
    for word in words:
        assert word in result.output, result.output


def test_missing_usage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke(
        [
            "simulate",
            "contracts",
            "--usage",
            "contracts/data/no-such-usage.csv",
            *DEMO_REFERENCE,
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert_diagnostic(result, "E0501", "contracts/data/no-such-usage.csv")
    assert result.exit_code == 1
    assert not (tmp_path / "run" / "manifest.json").exists()


@pytest.mark.parametrize("command", ["validate", "compile", "simulate"])
def test_contract_with_a_syntax_error(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("broken.contract").write_text(SYNTAX_ERROR, encoding="utf-8")
    args = [command, "broken.contract"]
    if command == "simulate":
        args += ["--usage", str(ROOT / "contracts/data/nordcarrier-cdrs.csv"), "--period", "2026-03"]
    result = invoke(args)
    assert result.exit_code == 1
    assert_diagnostic(result, "E0101", "broken.contract:3:29", "expected a date")
    assert "   = hint:" in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "March", "2026-3"])
def test_invalid_period(period: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke(["simulate", "contracts", *DEMO_USAGE, "--period", period, "--out", str(tmp_path / "r")])
    assert_diagnostic(result, "E0505", f"`{period}` is not a monthly period", "write e.g. 2026-03")
    assert result.exit_code == 1
    assert not (tmp_path / "r" / "manifest.json").exists()


def test_fx_file_without_the_needed_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    fx = tmp_path / "fx.csv"
    fx.write_text(
        "date,from,to,rate\n2026-03-30,EUR,PLN,4.2600\n2026-03-31,USD,PLN,3.9000\n", encoding="utf-8"
    )
    out = tmp_path / "run"
    result = invoke(
        [
            "simulate",
            "contracts/streamplus.contract",
            "--usage",
            "contracts/data/streamplus-subscriptions.csv",
            "--period",
            "2026-03",
            "--fx",
            str(fx),
            "--out",
            str(out),
        ]
    )
    assert_diagnostic(result, "E0503", "no EUR/PLN rate for 2026-03-31", "contracts/streamplus.contract:32")
    assert result.exit_code == 1
    assert not (out / "manifest.json").exists()
    assert not list(out.glob(".*.partial"))


def test_no_fx_file_for_a_converted_payout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    usage = ["--usage", "contracts/data/streamplus-subscriptions.csv", "--period", "2026-03"]
    result = invoke(["simulate", "contracts/streamplus.contract", *usage, "--out", str(tmp_path)])
    assert_diagnostic(result, "E0503", "no FX rates were given", "--fx")


@pytest.mark.parametrize(
    ("option", "content", "code"),
    [
        ("--fx", None, "E0501"),
        ("--customers", None, "E0501"),
        ("--fx", "date,from,to,rate\n2026-03-31,EUR,PLN,four\n", "E0501"),
        ("--customers", "id,name\nC-1,Anna\n", "E0501"),
    ],
)
def test_bad_reference_files(
    option: str, content: str | None, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    path = tmp_path / "reference.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = invoke(["simulate", "contracts", *DEMO_USAGE, "--period", "2026-03", option, str(path)])
    assert_diagnostic(result, code, str(path))


def test_unreadable_usage_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    binary = tmp_path / "usage.csv"
    binary.write_bytes(b"\xff\xfe\x00record_id,timestamp\n\xff\xfe\x00garbage\n")  # not even a header
    spreadsheet = tmp_path / "usage.xlsx"
    spreadsheet.write_bytes(b"PK\x03\x04")
    for usage in (binary, spreadsheet):
        result = invoke(
            [
                "simulate",
                "contracts",
                "--usage",
                str(usage),
                "--period",
                "2026-03",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        assert_diagnostic(result, "E0501")


def test_a_folder_without_contracts_is_a_coded_diagnostic(tmp_path: Path) -> None:
    result = invoke(["validate", str(tmp_path)])
    assert_diagnostic(result, "E0104")


# --- the installed console script ---------------------------------------------------------


def console_script() -> str:
    name = "clearline.exe" if os.name == "nt" else "clearline"
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which("clearline", path=str(Path(sys.executable).parent)) or shutil.which("clearline")
    if found is None:
        pytest.skip("the clearline console script is not installed")
    return found


def test_console_script_validates_the_examples() -> None:
    done = subprocess.run(
        [console_script(), "validate", "contracts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+ contract\(s\) OK", done.stdout)
    assert "Traceback" not in done.stdout + done.stderr


def test_console_script_hides_tracebacks_of_internal_errors(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}\n", encoding="utf-8")
    done = subprocess.run(
        [console_script(), "explain", str(tmp_path), "P-0000000000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CLEARLINE_DEBUG"},
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_file_or_an_empty_folder_is_named_first_like_any_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diagnostic that has no line to point at starts with the file it is about, where
    every other one starts with `file:line:col:` (an editor or grep jumps to it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    missing = CliRunner().invoke(app, ["validate", "nothere.contract"])
    assert missing.exit_code == 1
    assert missing.stderr.startswith(
        "nothere.contract: error[E0104]: cannot read nothere.contract: no such file"
    )
    empty = CliRunner().invoke(app, ["validate", "empty"])
    assert empty.exit_code == 1
    assert empty.stderr.startswith("empty: error[E0104]: no contract files in empty")
