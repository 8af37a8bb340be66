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
from conftest import CONTRACTS, DATA, PERIOD

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


def test_an_amount_as_a_json_number_does_not_fit(march_run: Path) -> None:
    manifest = json.loads((march_run / "manifest.json").read_text(encoding="utf-8"))
    party = next(iter(manifest["totals"]))
    kind = next(iter(manifest["totals"][party]))
    currency = next(iter(manifest["totals"][party][kind]))
    manifest["totals"][party][kind][currency] = 12.5
    errors = list(validator("manifest-1.schema.json").iter_errors(manifest))
    assert len(errors) == 1 and errors[0].path[-1] == currency
