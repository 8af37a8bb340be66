"""The JSON Schemas of a run folder (clearline/schemas/, versioned with the
manifest's `schema`): every manifest and trace line Clearline writes fits them,
and a manifest that claims a number for an amount does not."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

import clearline
from clearline import codes
from clearline.codes import CODES
from conftest import CONTRACTS, DATA, PERIOD, read_csv

jsonschema = pytest.importorskip("jsonschema")  # a dev dependency


def schema(name: str) -> Any:
    return json.loads(files("clearline").joinpath("schemas", name).read_text(encoding="utf-8"))


def validator(name: str) -> Any:
    found = schema(name)
    jsonschema.Draft202012Validator.check_schema(found)
    return jsonschema.Draft202012Validator(found)


def test_the_march_run_fits_the_schemas(march_run: Path) -> None:
    manifest = json.loads((march_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == 1
    validator("manifest-1.schema.json").validate(manifest)
    traces = validator("trace-1.schema.json")
    lines = (march_run / "trace.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    for text in lines:
        traces.validate(json.loads(text))


def test_every_bundled_contract_packed_and_routed_fits(tmp_path: Path) -> None:
    """All four contracts (waterfalls, FX, withholding), inputs packed, late records routed."""
    plans, _ = clearline.load_plans(sorted(CONTRACTS.glob("*.contract")))
    usage = sorted(DATA.glob("*.csv"))
    usage = [u for u in usage if u.name not in {"fx-rates.csv", "customers.csv"}]
    out = tmp_path / "run"
    clearline.run(
        plans,
        usage,
        PERIOD,
        fx=DATA / "fx-rates.csv",
        customers=DATA / "customers.csv",
        out=out,
        pack=True,
        out_of_period="route",
    )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert all("packed" in i for i in manifest["inputs"])
    validator("manifest-1.schema.json").validate(manifest)
    traces = validator("trace-1.schema.json")
    for text in (out / "trace.jsonl").read_text(encoding="utf-8").splitlines():
        traces.validate(json.loads(text))
    rejects = validator("reject-1.schema.json")
    found: dict[str, set[str]] = {}
    for name in ("rejects", "unmatched"):
        for text in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(text)
            rejects.validate(row)
            assert row["code"] in CODES, row
            found.setdefault(name, set()).add(row["code"])
    # the bundled data's three re-sent DCB purchases: duplicates
    assert found == {"rejects": {codes.REJECT_DUPLICATE}}


def test_every_reject_names_its_reason_by_code(tmp_path: Path) -> None:
    """One NordCarrier record per way to fail, each with its code in rejects.csv/.jsonl
    and unmatched.csv/.jsonl, every line fitting reject-1.schema.json."""
    usage = tmp_path / "cdrs.csv"
    good = "2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,61,s"
    usage.write_text(
        "record_id,timestamp,customer_id,service,destination,quantity,unit\n"
        f"OK-1,{good}\n"
        f"OK-1,{good}\n"  # line 3: a duplicate
        ",2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,61,s\n"
        "NO-TS,,C-1001,voice-out,4860123456,61,s\n"
        "BAD-TS,yesterday,C-1001,voice-out,4860123456,61,s\n"
        "NO-TZ,2026-03-01T10:00:00,C-1001,voice-out,4860123456,61,s\n"
        "APRIL,2026-04-02T10:00:00+02:00,C-1001,voice-out,4860123456,61,s\n"
        "NAN,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,abc,s\n"
        "NEG,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,-5,s\n"
        "EMPTY,2026-03-01T10:00:00+01:00,C-1001,voice-out,4860123456,,s\n"
        "NO-CUST,2026-03-01T10:00:00+01:00,,voice-out,4860123456,61,s\n"
        "WHO,2026-03-01T10:00:00+01:00,C-9999,voice-out,4860123456,61,s\n"
        "SHORT,2026-03-01T10:00:00+01:00,C-1001\n"
        "FAX,2026-03-01T10:00:00+01:00,C-1001,fax,4860123456,1,s\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    out = tmp_path / "run"
    clearline.run(plans, [usage], PERIOD, customers=DATA / "customers.csv", out=out)
    rows = {(r["record_id"], r["code"]) for r in read_csv(out / "rejects.csv")}
    assert rows == {
        ("OK-1", codes.REJECT_DUPLICATE),
        ("", codes.REJECT_NO_RECORD_ID),
        ("NO-TS", codes.REJECT_NO_TIMESTAMP),
        ("BAD-TS", codes.REJECT_BAD_TIMESTAMP),
        ("NO-TZ", codes.REJECT_TIMESTAMP_NO_OFFSET),
        ("APRIL", codes.REJECT_OUT_OF_PERIOD),
        ("NAN", codes.REJECT_NOT_A_NUMBER),
        ("NEG", codes.REJECT_NEGATIVE),
        ("EMPTY", codes.REJECT_EMPTY_FIELD),
        ("NO-CUST", codes.REJECT_NO_CUSTOMER),
        ("WHO", codes.REJECT_UNKNOWN_CUSTOMER),
        ("SHORT", codes.REJECT_UNREADABLE),
    }
    assert [(r["record_id"], r["code"]) for r in read_csv(out / "unmatched.csv")] == [
        ("FAX", codes.UNMATCHED_NO_PRODUCT)
    ]
    check = validator("reject-1.schema.json")
    for name in ("rejects.jsonl", "unmatched.jsonl"):
        for text in (out / name).read_text(encoding="utf-8").splitlines():
            check.validate(json.loads(text))
    # the audit report lists each with its code
    pytest.importorskip("jinja2")
    from clearline.reports import render_reports

    render_reports(out, formats=["md"], lang="en")
    audit = next((out / "documents").glob("audit-*.md")).read_text(encoding="utf-8")
    assert "| Code |" in audit
    assert f"| BAD-TS | {codes.REJECT_BAD_TIMESTAMP} | timestamp |" in audit
    assert f"| FAX | {codes.UNMATCHED_NO_PRODUCT} |" in audit


def test_an_amount_as_a_json_number_does_not_fit(march_run: Path) -> None:
    manifest = json.loads((march_run / "manifest.json").read_text(encoding="utf-8"))
    party = next(iter(manifest["totals"]))
    kind = next(iter(manifest["totals"][party]))
    currency = next(iter(manifest["totals"][party][kind]))
    manifest["totals"][party][kind][currency] = 12.5
    errors = list(validator("manifest-1.schema.json").iter_errors(manifest))
    assert len(errors) == 1 and errors[0].path[-1] == currency
