"""Parties' legal particulars: `details of PARTY { ... }` in contracts and libraries, the
customers file's optional columns, and the checks of IBANs, VAT ids and countries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError
from clearline.particulars import iban_problem, vat_id_problem
from clearline.runtime.inputs.readers import InputError
from clearline.runtime.inputs.refdata import read_customers

ROOT = Path(__file__).resolve().parent.parent


def test_the_bundled_plans_carry_the_operators_and_partners_particulars() -> None:
    plans, _ = clearline.load_plans([ROOT / "contracts" / "streamplus.contract"])
    plan = plans[0]
    telcopl = plan.party("telcopl").details
    assert telcopl == ir.PartyDetails(
        legal_name="TelcoPL Spółka Akcyjna",
        address=("ul. Marszałkowska 142",),
        postcode="00-061",
        city="Warszawa",
        country="PL",
        vat_id="PL5260250274",
        registration="KRS 0000012345, Sąd Rejonowy dla m.st. Warszawy",
        iban="PL60102010260000042270201111",  # written with spaces, kept without
        bic="BPKOPLPW",
        payment_days=14,
    )
    streamco = plan.party("streamco").details
    assert streamco is not None and streamco.vat_id == "IE6388047V" and streamco.payment_days is None
    # through the plan JSON and back, exactly
    again = ir.from_json(json.loads(json.dumps(ir.to_json(plan))))
    assert again.party("telcopl").details == telcopl


def test_a_party_without_details_serialises_as_before() -> None:
    party = ir.PartyPlan("telcopl", "operator", "TelcoPL S.A.", "PLN", "PL", "pl")
    assert "details" not in ir.encode(party)


def test_details_in_a_library_reach_the_contract(tmp_path: Path) -> None:
    (tmp_path / "parties.contract").write_text(
        'library parties {\n  details of telcopl {\n    legal name "TelcoPL Spółka Akcyjna"\n'
        '    address "ul. Marszałkowska 142"\n    address "piętro 3"\n    city "Warszawa"\n'
        '    vat id "pl 526-025-02-74"\n  }\n}\n',
        encoding="utf-8",
    )
    text = (ROOT / "tests" / "diagnostics" / "W0101_default_rounding.contract").read_text(encoding="utf-8")
    contract = tmp_path / "c.contract"
    contract.write_text(
        text.replace("  version", '  import "parties.contract"\n  version', 1), encoding="utf-8"
    )
    plans, _ = clearline.load_plans([contract])
    details = plans[0].operator.details
    assert details is not None
    assert details.address == ("ul. Marszałkowska 142", "piętro 3")  # address lines, in order
    assert details.vat_id == "PL5260250274"  # spaces and dashes dropped, upper case
    assert details.country == "PL"  # from the party line, when the block gives none


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("DE89 3704 0044 0532 0130 00", True),  # the ISO 13616 example
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("PL60102010260000042270201111", True),
        ("XX60102010260000042270201111", False),
        ("PL60", False),
    ],
)
def test_iban_mod_97(iban: str, ok: bool) -> None:
    assert (iban_problem(iban) is None) is ok


@pytest.mark.parametrize(
    ("vat", "ok"),
    [
        ("PL5260250274", True),
        ("PL526025027", False),  # 9 digits
        ("DE129273398", True),
        ("ATU12345678", True),
        ("AT12345678", False),  # the U is part of an Austrian number
        ("NL123456789B01", True),
        ("FR40303265045", True),
        ("EL123456789", True),
        ("GR123456789", False),  # Greece's prefix is EL
        ("IE6388047V", True),
        ("SE556677889901", True),
        ("GB123456789", True),  # outside the EU table: the form only
        ("5260250274", False),  # no prefix
    ],
)
def test_vat_id_forms(vat: str, ok: bool) -> None:
    assert (vat_id_problem(vat) is None) is ok


def test_the_customers_file_reads_the_optional_particulars() -> None:
    customers = read_customers(ROOT / "contracts" / "data" / "customers.csv")
    fleet = customers["B-2001"]
    assert (fleet.address, fleet.postcode, fleet.city, fleet.vat_id) == (
        "Friedrichstraße 68",
        "10117",
        "Berlin",
        "DE129273398",
    )
    assert customers["C-1001"].vat_id == "" and customers["C-1001"].city == "Warszawa"


def test_a_customers_file_without_the_new_columns_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name,country,language,currency\nC-1,Anna,PL,pl,PLN\n", encoding="utf-8")
    assert read_customers(path)["C-1"].vat_id == ""


def test_a_bad_vat_id_in_the_customers_file_refuses_it_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,country,language,currency,vat_id\nC-1,Anna,PL,pl,PLN,\nB-1,Fleet,DE,de,EUR,DE1234\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        read_customers(path)
    assert caught.value.code == codes.BAD_CUSTOMER_PARTICULAR
    assert caught.value.message == (
        f"{path}:3: customer B-1's vat_id 'DE1234': not the form DE VAT ids take (DE and 9 digits)"
    )


def test_simulate_reports_a_bad_customers_file_with_its_code(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name,country,language,currency\nB-1,Fleet,UK,de,EUR\n", encoding="utf-8")
    with pytest.raises(ClearlineError) as caught:
        plans, _ = clearline.load_plans([ROOT / "contracts" / "fleetiot.contract"])
        clearline.run(
            plans,
            [ROOT / "contracts" / "data" / "fleetiot-usage.csv"],
            "2026-03",
            customers=path,
            out=tmp_path / "run",
        )
    [diag] = caught.value.diagnostics
    assert diag.code == "E0909" and "country 'UK': UK is not an ISO 3166 country code" in diag.message


def test_the_country_table_is_iso_3166_as_cldr_has_it() -> None:
    """CLDR's two-letter territories, less its regions and the codes ISO reserves
    exceptionally (AC, CP, DG, EA, IC, TA), Kosovo's user-assigned XK and its own."""
    import re

    from babel import Locale

    from clearline.particulars import COUNTRIES

    cldr = {c for c in Locale("en").territories if re.fullmatch(r"[A-Z]{2}", c)}
    assert cldr - COUNTRIES == {
        "AC",
        "CP",
        "CQ",
        "DG",
        "EA",
        "EU",
        "EZ",
        "IC",
        "QO",
        "TA",
        "UN",
        "XA",
        "XB",
        "XK",
        "ZZ",
    }
    assert cldr >= COUNTRIES and len(COUNTRIES) == 249


def test_a_library_alone_gets_its_particulars_checked(tmp_path: Path) -> None:
    """`validate parties.contract` checks the IBAN of a party its contracts declare."""
    from typer.testing import CliRunner

    from clearline.cli import app

    path = tmp_path / "parties.contract"
    path.write_text(
        'library parties {\n  details of telcopl {\n    iban "PL61 1090 1014 0000 0712 1981 2875"\n  }\n}\n',
        encoding="utf-8",
    )
    done = CliRunner().invoke(app, ["validate", str(path)])
    assert done.exit_code == 1
    assert "error[E0903]" in done.stderr and "E0901" not in done.stderr  # its party is the contract's
