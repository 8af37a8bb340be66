"""Amendments (versions in force by date) and imports of shared libraries."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clearline
from conftest import CONTRACTS, DATA, read_csv

RAISE_SHARE = """\
amendment of SP-2026 from 2026-03-15 "Revenue share raised to 60%" {
  version 4
  replace clause "4.2 Revenue share" "StreamCo receives 60% of net revenue." {
    pay streamco the larger of 60% of net and 18.00 PLN per subscriber-month, prorated by active days
    round the period total half up to 0.01
  }
}
"""


def settle(folder: Path, usage: str, period: str = "2026-03") -> Path:
    plans, _ = clearline.load_plans(sorted(folder.glob("*.contract")))
    out = folder / "out"
    clearline.run(plans, [DATA / usage], period, fx=DATA / "fx-rates.csv", out=out)
    return out


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_period_spanning_an_amendment_is_settled_piecewise(tmp_path: Path) -> None:
    write(tmp_path, "sp.contract", (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8"))
    write(tmp_path, "sp-a1.contract", RAISE_SHARE)
    out = settle(tmp_path, "streamplus-subscriptions.csv")
    invoices = {
        (r["party"], r["contract_version"]): (r["quantity"], r["amount"])
        for r in read_csv(out / "invoice_lines.csv")
    }
    assert invoices == {
        ("C-1001", "3"): ("14", "17.61"),
        ("C-1001", "4"): ("17", "21.39"),  # 1-14 and 15-31 March
        ("C-1002", "3"): ("14", "17.61"),
        ("C-1002", "4"): ("17", "21.39"),
        ("C-1003", "3"): ("14", "17.61"),
        ("C-1003", "4"): ("17", "21.39"),
        ("C-1004", "4"): ("15", "18.87"),  # joined on the 17th: only the new version
        ("C-1005", "3"): ("10", "12.58"),  # left on the 11th: only the old one
    }
    payouts = {r["contract_version"]: r["amount"] for r in read_csv(out / "payout_lines.csv")}
    # v3: 3 x 55% x 17.61 + 55% x 12.58 = 35.9795; v4: 3 x 60% x 21.39 + 60% x 18.87 = 49.824
    assert payouts == {"3": "35.98", "4": "49.82"}
    retained = {r["contract_version"]: r["amount"] for r in read_csv(out / "retained_lines.csv")}
    assert retained == {"3": "29.43", "4": "33.22"}


@settings(max_examples=8, deadline=None)
@given(
    st.dates(
        min_value=__import__("datetime").date(2026, 1, 2), max_value=__import__("datetime").date(2026, 2, 28)
    )
)
def test_an_amendment_in_force_before_the_first_record_changes_nothing_but_the_version(day: object) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder, "nc.contract", (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8"))
        base = settle(folder, "nordcarrier-cdrs.csv")
        before = [(r["party"], r["description"], r["amount"]) for r in read_csv(base / "payout_lines.csv")]
        write(
            folder,
            "nc-a1.contract",
            f"""\
            amendment of NC-2026 from {day} {{
              version 2
              change table termination {{
                "48"    0.0090 EUR per minute, increments 60/60
              }}
            }}
        """,
        )
        amended = settle(folder, "nordcarrier-cdrs.csv")
        rows = read_csv(amended / "payout_lines.csv")
        assert [(r["party"], r["description"], r["amount"]) for r in rows] == before
        assert {r["contract_version"] for r in rows} == {"2"}


def test_a_rate_change_applies_from_its_date(tmp_path: Path) -> None:
    write(tmp_path, "nc.contract", (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8"))
    write(
        tmp_path,
        "nc-a1.contract",
        """\
        amendment of NC-2026 from 2026-03-04 "48 is cheaper from 4 March" {
          version 2
          change table termination {
            "48"    0.0060 EUR per minute, increments 60/60
          }
        }
    """,
    )
    out = settle(tmp_path, "nordcarrier-cdrs.csv")
    rated = {r["record_id"]: r["amount"] for r in read_csv(out / "rated_records.csv")}
    assert rated["CDR-0003"] == "0.0090"  # 3 March: version 1, 60 s x 0.0090 / 60
    assert rated["CDR-0004"] == "0.0180"  # 4 March: version 2, 180 s x 0.0060 / 60
    lines = {
        (r["contract_version"], r["description"].split(":")[0]): r["amount"]
        for r in read_csv(out / "payout_lines.csv")
    }
    assert lines[("1", "Voice termination, prefix 48")] == "0.01"
    assert lines[("2", "Voice termination, prefix 48")] == "0.02"


def diagnostics(folder: Path) -> list[tuple[str, str]]:
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans(sorted(folder.glob("*.contract")))
    return [(d.code, d.message) for d in info.value.diagnostics if d.is_error]


def test_an_amendment_to_a_clause_that_does_not_exist(tmp_path: Path) -> None:
    write(tmp_path, "sp.contract", (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8"))
    write(
        tmp_path,
        "sp-a1.contract",
        RAISE_SHARE.replace('replace clause "4.2 Revenue share"', 'replace clause "4.2 Revenue shares"'),
    )
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans(sorted(tmp_path.glob("*.contract")))
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.message, diag.hint) == (
        "E0410",
        'contract SP-2026 has no clause "4.2 Revenue shares"',
        "did you mean `4.2 Revenue share`?",
    )
    assert diag.span is not None and diag.span.file.endswith("sp-a1.contract") and diag.span.line == 3


def test_overlapping_and_misordered_versions(tmp_path: Path) -> None:
    write(tmp_path, "sp.contract", (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8"))
    write(tmp_path, "a1.contract", RAISE_SHARE)
    write(tmp_path, "a2.contract", RAISE_SHARE.replace("version 4", "version 5"))
    write(
        tmp_path,
        "a3.contract",
        RAISE_SHARE.replace("2026-03-15", "2027-02-01").replace("version 4", "version 6"),
    )
    write(
        tmp_path,
        "a4.contract",
        RAISE_SHARE.replace("2026-03-15", "2026-06-01").replace("version 4", "version 3"),
    )
    assert diagnostics(tmp_path) == [
        ("E0409", "two amendments of SP-2026 take effect on 2026-03-15"),
        (
            "E0409",
            "the amendment takes effect on 2027-02-01, outside SP-2026's effective interval "
            "2026-01-01 until 2027-01-01",
        ),
        ("E0409", "version 3 does not follow version 4"),
    ]


def test_two_files_with_one_contract_id_must_not_overlap(tmp_path: Path) -> None:
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    write(tmp_path, "a.contract", text)
    write(
        tmp_path,
        "b.contract",
        text.replace("version 1", "version 2").replace(
            "effective 2026-01-01 until 2027-01-01", "effective 2026-06-01 until 2027-06-01"
        ),
    )
    assert diagnostics(tmp_path) == [
        ("E0409", "versions 1 and 2 of NC-2026 overlap: 2 starts 2026-06-01, before 1 ends 2027-01-01"),
    ]
    # the diagnostic points at the later version's `effective` line (line 4 of b.contract)
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans(sorted(tmp_path.glob("*.contract")))
    (overlap,) = info.value.diagnostics
    assert overlap.span is not None
    assert (Path(overlap.span.file).name, overlap.span.line) == ("b.contract", 4)
    write(
        tmp_path,
        "b.contract",
        text.replace("version 1", "version 2").replace(
            "effective 2026-01-01 until 2027-01-01", "effective 2027-02-01 until 2028-01-01"
        ),
    )
    assert diagnostics(tmp_path) == [
        ("E0409", "versions 1 and 2 of NC-2026 leave a gap from 2027-01-01 to 2027-02-01"),
    ]
    write(
        tmp_path,
        "b.contract",
        text.replace("version 1", "version 2").replace(
            "effective 2026-01-01 until 2027-01-01", "effective 2027-01-01 until 2028-01-01"
        ),
    )
    plans, _ = clearline.load_plans(sorted(tmp_path.glob("*.contract")))
    assert [(p.version, p.effective_from) for p in plans] == [(1, "2026-01-01"), (2, "2027-01-01")]


LIBRARY = """\
library telcopl-common "TelcoPL's parties and rate cards" {
  operator telcopl "TelcoPL S.A." currency PLN country PL language pl
  usage fields {
    destination text
  }
  rate table termination by longest prefix of destination {
    "4860"  0.0150 EUR per minute, increments 30/6, connect fee 0.0010 EUR
    "48"    0.0090 EUR per minute, increments 60/60
    "49"    0.0120 EUR per minute, increments 1/1
  }
}
"""


def importing(path: str) -> str:
    text = (CONTRACTS / "nordcarrier.contract").read_text(encoding="utf-8")
    text = text.replace(
        '  operator telcopl     "TelcoPL S.A."    currency PLN  country PL  language pl\n', ""
    )
    start = text.index("  rate table termination")
    end = text.index("  }\n", start) + 4
    return text[:start] + f'  import "{path}"\n' + text[end:]


def test_a_contract_imports_a_library(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write(tmp_path / "shared", "telcopl.contract", LIBRARY)
    write(tmp_path, "nc.contract", importing("shared/telcopl.contract"))
    plans, _ = clearline.load_plans([tmp_path / "nc.contract", tmp_path / "shared" / "telcopl.contract"])
    (plan,) = plans
    assert plan.operator.name == "telcopl"
    out = tmp_path / "out"
    clearline.run(plans, [DATA / "nordcarrier-cdrs.csv"], "2026-03", out=out)
    assert sorted(r["amount"] for r in read_csv(out / "payout_lines.csv")) == ["0.01", "0.03", "0.04"]


def test_imports_outside_the_root_or_of_contracts_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "contracts"
    root.mkdir()
    write(tmp_path, "outside.contract", LIBRARY)
    write(root, "nc.contract", importing("../outside.contract"))
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans([root / "nc.contract"], root=root)
    assert "E0407" in [d.code for d in info.value.diagnostics]
    write(root, "other.contract", (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8"))
    write(root, "nc.contract", importing("other.contract"))
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans([root / "nc.contract"], root=root)
    assert "E0408" in [d.code for d in info.value.diagnostics]
    write(root, "nc.contract", importing("missing.contract"))
    with pytest.raises(clearline.ClearlineError) as info:
        clearline.load_plans([root / "nc.contract"], root=root)
    assert any(d.message.startswith("there is no file `missing.contract`") for d in info.value.diagnostics)


def test_amended_amounts_keep_decimal_digits(tmp_path: Path) -> None:
    # the retained line of each version is its own net revenue minus its own payouts
    write(tmp_path, "sp.contract", (CONTRACTS / "streamplus.contract").read_text(encoding="utf-8"))
    write(tmp_path, "sp-a1.contract", RAISE_SHARE)
    out = settle(tmp_path, "streamplus-subscriptions.csv")
    total = sum(Decimal(r["amount"]) for r in read_csv(out / "invoice_lines.csv"))
    paid = sum(Decimal(r["amount"]) for r in read_csv(out / "payout_lines.csv"))
    kept = sum(Decimal(r["amount"]) for r in read_csv(out / "retained_lines.csv"))
    assert total == paid + kept
