"""The run folder as evidence: plans recorded, inputs packed or referenced by
absolute path, and `verify` checking every claim of the manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearline.cli import app
from clearline.compiler import ir
from conftest import ROOT

ARGS = [
    "contracts",
    "--usage",
    "contracts/data/nordcarrier-cdrs.csv",
    "--usage",
    "contracts/data/streamplus-subscriptions.csv",
    "--period",
    "2026-03",
    "--fx",
    "contracts/data/fx-rates.csv",
    "--customers",
    "contracts/data/customers.csv",
]


def settle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Path:
    shutil.copytree(ROOT / "contracts", tmp_path / "work" / "contracts")
    monkeypatch.chdir(tmp_path / "work")
    result = CliRunner().invoke(app, ["simulate", *ARGS, "--out", "run", *extra])
    assert result.exit_code == 0, result.output
    return tmp_path / "work" / "run"


def manifest(run: Path) -> dict[str, object]:
    data = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def edit(run: Path, change: object) -> None:
    data = manifest(run)
    change(data)  # type: ignore[operator]
    (run / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def verify(run: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", str(run)])
    return result.exit_code, result.output


def test_every_contract_version_is_recorded_as_its_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan-HEX.json is the canonical JSON of the plan; HEX is its SHA-256, and
    the manifest's contract entry names it: one per contract of contracts/ (StreamPlus
    in its version 3, the one in force in March)."""
    run = settle(tmp_path, monkeypatch)
    contracts = manifest(run)["contracts"]
    assert isinstance(contracts, list)
    assert [(c["id"], c["version"]) for c in contracts] == [
        ("FI-2026", 1),
        ("GS-2026", 1),
        ("NC-2026", 1),
        ("SP-2026", 3),
    ]
    for c in contracts:
        path = run / c["plan"]
        assert "plan-" + hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
        plan = ir.from_json(json.loads(path.read_text(encoding="utf-8")))
        assert (plan.id, plan.version) == (c["id"], c["version"])
        assert c["plan"] in manifest(run)["outputs"]  # type: ignore[operator]


def test_inputs_are_named_by_absolute_path_and_verify_works_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = settle(tmp_path, monkeypatch)
    inputs = manifest(run)["inputs"]
    assert isinstance(inputs, list)
    assert all(Path(i["absolute"]).is_absolute() and Path(i["absolute"]).is_file() for i in inputs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, output = verify(run)
    assert code == 0, output


def test_a_packed_run_verifies_and_renders_the_same_when_copied_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pack copies each input to inputs/sha256/HEX. The folder, copied away and
    the original working tree deleted, verifies; its documents, rendered in the copy,
    are byte for byte those rendered in the original."""
    run = settle(tmp_path, monkeypatch, "--pack")
    for entry in manifest(run)["inputs"]:  # type: ignore[attr-defined]
        packed = run / entry["packed"]
        assert packed.stem == entry["sha256"] == hashlib.sha256(packed.read_bytes()).hexdigest()
    assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
    copy = tmp_path / "archive" / "run"  # the audit report names the folder: the same name
    shutil.copytree(run, copy)
    shutil.rmtree(tmp_path / "work")
    monkeypatch.chdir(tmp_path)
    code, output = verify(copy)
    assert code == 0, output
    rendered = tmp_path / "again"
    result = CliRunner().invoke(app, ["report", str(copy), "--out", str(rendered)])
    assert result.exit_code == 0, result.output
    originals = sorted(p.name for p in (copy / "documents").iterdir() if p.name != "documents.json")
    assert originals and originals == sorted(p.name for p in rendered.iterdir() if p.name != "documents.json")
    for name in originals:
        assert (rendered / name).read_bytes() == (copy / "documents" / name).read_bytes(), name


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("totals", lambda m: m["totals"]["streamco"]["payout"].update(PLN="999999.99")),
        ("counts", lambda m: m["counts"].update(rejected=0, rated=m["counts"]["rated"] + 1)),
        ("conservation", lambda m: m["conservation"]["checks"][0].update(payouts="1.00")),
        ("plan_sha256", lambda m: m.update(plan_sha256="0" * 64)),
        ("outputs", lambda m: m["outputs"].pop("rejects.csv")),
        (
            "status",
            lambda m: m.update(status="clean" if m["status"] != "clean" else "completed with rejects"),
        ),
    ],
)
def test_an_edited_manifest_claim_fails_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, change: object
) -> None:
    """Every output file untouched, only a claim of manifest.json edited: verify
    recomputes the claim from the run and fails naming it (E0522)."""
    run = settle(tmp_path, monkeypatch)
    edit(run, change)
    code, output = verify(run)
    assert code == 1, output
    assert f"error[E0522]: manifest.json claims {what}" in output


def test_an_input_moved_after_a_packed_run_does_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = settle(tmp_path, monkeypatch, "--pack")
    shutil.rmtree(tmp_path / "work" / "contracts")
    code, output = verify(run)
    assert code == 0, output


def test_a_packed_input_edited_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = settle(tmp_path, monkeypatch, "--pack")
    entry = next(e for e in manifest(run)["inputs"] if e["role"] == "fx")  # type: ignore[attr-defined]
    packed = run / entry["packed"]
    packed.write_text(packed.read_text(encoding="utf-8").replace("4.2500", "4.2600"), encoding="utf-8")
    code, output = verify(run)
    assert code == 1
    assert "error[E0506]: input changed since the run: contracts/data/fx-rates.csv" in output


def test_the_documents_name_customers_from_the_run_folder_not_the_customers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run records the customers it invoices in customers.json (named in the
    manifest's outputs). Renaming a customer in the customers file after the run, or
    deleting the file, changes nothing in the documents: Anna Kowalska's invoice is
    still hers, in Polish."""
    run = settle(tmp_path, monkeypatch)
    recorded = json.loads((run / "customers.json").read_text(encoding="utf-8"))["customers"]
    invoiced = {row["party"] for row in csv.DictReader((run / "invoice_lines.csv").open(encoding="utf-8"))}
    assert [c["id"] for c in recorded] == sorted(invoiced)  # only the invoiced, by id
    assert "C-1001" in invoiced
    anna = next(c for c in recorded if c["id"] == "C-1001")
    assert anna == {
        "id": "C-1001", "name": "Anna Kowalska", "country": "PL", "language": "pl", "currency": "PLN",
        "address": "ul. Kwiatowa 12 m. 4", "postcode": "02-495", "city": "Warszawa",
        "vat_id": "", "registration": "",
    }  # fmt: skip
    assert "customers.json" in manifest(run)["outputs"]  # type: ignore[operator]
    customers = tmp_path / "work" / "contracts" / "data" / "customers.csv"
    customers.write_text(customers.read_text(encoding="utf-8").replace("Anna Kowalska", "Somebody Else"))
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    invoice = next((run / "documents").glob("invoice-*C-1001*.md")).read_text(encoding="utf-8")
    assert "Anna Kowalska" in invoice and "Somebody Else" not in invoice
    assert "Faktura" in invoice  # Polish, as the customer's recorded language says
    customers.unlink()
    again = tmp_path / "again"
    assert CliRunner().invoke(app, ["report", str(run), "--out", str(again)]).exit_code == 0
    assert next(again.glob("invoice-*C-1001*.md")).read_text(encoding="utf-8") == invoice


def test_an_edited_customers_json_is_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """customers.json is pinned by the manifest like every output: edited, verify fails
    and the documents name the customer by id rather than by the edited name."""
    run = settle(tmp_path, monkeypatch)
    path = run / "customers.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Anna Kowalska", "Mallory"), encoding="utf-8")
    code, output = verify(run)
    assert code != 0 and "customers.json" in output, output
    result = CliRunner().invoke(app, ["report", str(run)])
    invoice = next((run / "documents").glob("invoice-*C-1001*.md")).read_text(encoding="utf-8")
    assert "Mallory" not in invoice and "C-1001" in invoice, result.output


def test_a_reverse_charged_customer_without_a_vat_id_settles_nothing(tmp_path: Path) -> None:
    """FleetIoT invoices B-2001 with reverse charge: with a customers file that gives no
    VAT id for it, simulate is refused (E0908, art. 226(4)) and writes no run folder."""
    import clearline
    from clearline import codes
    from conftest import CONTRACTS, DATA

    customers = tmp_path / "customers.csv"
    rows = (DATA / "customers.csv").read_text(encoding="utf-8").splitlines()
    customers.write_text(
        "\n".join(r.replace("DE129273398", "") if r.startswith("B-2001,") else r for r in rows) + "\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "fleetiot.contract"])
    usage = [DATA / "fleetiot-usage.csv"]
    with pytest.raises(clearline.ClearlineError) as error:
        clearline.run(plans, usage, "2026-03", customers=customers, out=tmp_path / "run")
    assert error.value.diagnostics[0].code == codes.REVERSE_CHARGE_WITHOUT_VAT_ID
    assert "B-2001" in error.value.diagnostics[0].message
    assert not (tmp_path / "run" / "manifest.json").exists()
    clearline.run(plans, usage, "2026-03", customers=DATA / "customers.csv", out=tmp_path / "ok")
    assert (tmp_path / "ok" / "manifest.json").is_file()
