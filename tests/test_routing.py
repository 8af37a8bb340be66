"""`--out-of-period route`: a record of another period is not lost and not
rejected; it is set aside, listed in routed.csv and written to
routed-PERIOD.jsonl, a usage file that period's run settles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import clearline
from conftest import CONTRACTS, DATA, read_csv

CDR_HEADER = "record_id,timestamp,customer_id,service,destination,quantity,unit\n"


def gamestudio_march(out: Path, mode: str, workers: int = 1) -> clearline.Settlement:
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    return clearline.run(
        plans,
        [DATA / "dcb-purchases.csv"],
        "2026-03",
        fx=DATA / "fx-rates.csv",
        out=out,
        out_of_period=mode,
        workers=workers,
    )


def test_routed_records_are_listed_and_written_as_usage_of_their_period(tmp_path: Path) -> None:
    # dcb-purchases.csv stamps two purchases of 1 April (Warsaw time) with the winter offset
    result = gamestudio_march(tmp_path / "march", "route")
    march = tmp_path / "march"
    assert (result.read, result.rated, len(result.rejects), len(result.routed)) == (1350, 1348, 0, 2)
    assert read_csv(march / "rejects.csv") == []
    routed = read_csv(march / "routed.csv")
    assert [(r["line"], r["record_id"], r["period"], r["routed_to"]) for r in routed] == [
        ("186", "DCB-00185", "2026-04", "routed-2026-04.jsonl:1"),
        ("930", "DCB-00929", "2026-04", "routed-2026-04.jsonl:2"),
    ]
    records = [json.loads(line) for line in (march / "routed-2026-04.jsonl").read_text().splitlines()]
    assert records[0] == {
        "record_id": "DCB-00185",
        "timestamp": "2026-03-31T23:05:00+01:00",
        "customer_id": "C-1001",
        "service": "carrier-billing",
        "merchant": "gamestudio",
        "amount": "24.60",
        "currency": "PLN",
    }
    manifest = json.loads((march / "manifest.json").read_text())
    assert manifest["counts"]["routed"] == 2
    assert manifest["counts"]["reconciled"] is True
    assert manifest["status"] == "clean"
    assert manifest["options"] == {"out_of_period": "route"}
    assert "routed-2026-04.jsonl" in manifest["outputs"]
    # the March figures are the same as when the two are rejected
    gamestudio_march(tmp_path / "rejecting", "reject")
    for name in ("invoice_lines.csv", "payout_lines.csv", "retained_lines.csv"):
        assert (march / name).read_bytes() == (tmp_path / "rejecting" / name).read_bytes()
    assert len(read_csv(tmp_path / "rejecting" / "rejects.csv")) == 2

    # April's run settles them: 2 x 24.60 gross
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    april = clearline.run(plans, [march / "routed-2026-04.jsonl"], "2026-04", out=tmp_path / "april")
    assert (april.read, april.rated, april.rejects, april.unmatched) == (2, 2, [], [])
    rated = read_csv(tmp_path / "april" / "rated_records.csv")
    assert sorted({r["record_id"] for r in rated}) == ["DCB-00185", "DCB-00929"]


def test_routing_is_the_same_with_workers_and_verifies(tmp_path: Path) -> None:
    gamestudio_march(tmp_path / "one", "route")
    gamestudio_march(tmp_path / "two", "route", workers=2)
    for path in sorted((tmp_path / "one").iterdir()):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name
    from clearline.verify import verify_run

    assert verify_run(tmp_path / "one").ok


def test_records_go_to_the_period_of_their_timestamp(tmp_path: Path) -> None:
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    usage = tmp_path / "cdrs.csv"
    usage.write_text(
        CDR_HEADER
        + "A,2026-03-02T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
        + "B,2026-04-02T10:00:00+02:00,C-1001,voice-out,4860123456,61,s\n"
        + "C,2026-02-27T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
        # the period is checked first: a bad quantity of February is February's to reject
        + "D,2026-02-27T10:00:00+01:00,C-1001,voice-out,4860123456,abc,s\n"
        + "E,2026-02-28T23:30:00+00:00,C-1001,voice-out,4860123456,61,s\n",  # 1 March in Warsaw
        encoding="utf-8",
    )
    result = clearline.run(plans, [usage], "2026-03", out=tmp_path / "out", out_of_period="route")
    assert [(r.record_id, r.period) for r in result.routed] == [
        ("B", "2026-04"),
        ("C", "2026-02"),
        ("D", "2026-02"),
    ]
    assert (result.rated, result.rejects) == (2, [])


def test_a_record_another_contract_settles_now_is_rejected_not_routed(tmp_path: Path) -> None:
    """Routed means every product that matches it puts it in the same other period."""
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    in_utc = tmp_path / "contracts" / "utc.contract"
    in_utc.parent.mkdir()
    in_utc.write_text(text.replace("NC-2026", "NC-UTC").replace("time zone Europe/Warsaw", "time zone UTC"))
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract", in_utc])
    usage = tmp_path / "cdrs.csv"
    usage.write_text(
        CDR_HEADER
        + "A,2026-03-31T23:30:00+00:00,C-1001,voice-out,4860123456,61,s\n"  # 1 April in Warsaw
        + "B,2026-04-02T10:00:00+02:00,C-1001,voice-out,4860123456,61,s\n",  # April in both
        encoding="utf-8",
    )
    result = clearline.run(plans, [usage], "2026-03", out=tmp_path / "out", out_of_period="route")
    assert [(r.record_id, r.period) for r in result.routed] == [("B", "2026-04")]
    (reject,) = result.rejects
    assert reject.record_id == "A"
    assert reject.reason.startswith("outside the settled period 2026-03")


def test_the_cli_routes_and_rejects_a_mode_it_does_not_know(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "gamestudio.contract")]
    command += ["-u", str(DATA / "dcb-purchases.csv"), "-p", "2026-03", "--fx", str(DATA / "fx-rates.csv")]
    command += ["-o", str(tmp_path / "out")]
    done = subprocess.run([*command, "--out-of-period", "route"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "2 record(s) of other periods set aside for their own runs" in done.stdout
    bad = subprocess.run([*command, "--out-of-period", "keep"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_the_api_refuses_an_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out_of_period must be one of reject, route"):
        gamestudio_march(tmp_path, "keep")


def test_the_audit_report_counts_routed_records(tmp_path: Path) -> None:
    gamestudio_march(tmp_path / "run", "route")
    command = [sys.executable, "-m", "clearline.cli", "report", str(tmp_path / "run"), "--format", "md"]
    command += ["--lang", "en", "--out", str(tmp_path / "docs")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (audit,) = (tmp_path / "docs").glob("audit-*.md")
    text = audit.read_text(encoding="utf-8")
    assert "| read | rated | rejected | unmatched | routed to other periods |" in text
    assert "| 1,350 | 1,348 | 0 | 0 | 2 |" in text
