"""A contract's ledger terms: its operator's document number formats, and how late
usage may come (`accept late usage for N periods`, default 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.ledger import LedgerError, open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.resettle import prior_for
from clearline.source import SourceFile
from conftest import read_csv
from ledger_support import SHARE_CONTRACT, sales, settle_share


def _with(terms: str) -> str:
    return SHARE_CONTRACT.replace("  operator telcopl", f"{terms}\n  operator telcopl", 1)


def _diagnostics(text: str) -> list[tuple[str, str]]:
    contract = clearline.parse(SourceFile("terms.contract", text))
    return [(d.code, d.message) for d in clearline.check(contract)]


def test_number_formats_are_checked() -> None:
    text = _with('  invoice numbers "FV/{year}/{month}"\n  credit-note numbers "KOR/{yaer}/{seq}"')
    assert _diagnostics(text) == [
        (
            codes.INVALID_NUMBER_FORMAT,
            "invoice numbers 'FV/{year}/{month}': the format has no {seq}: two documents of the "
            "series would share a number",
        ),
        (
            codes.INVALID_NUMBER_FORMAT,
            "credit-note numbers 'KOR/{yaer}/{seq}': unknown field {yaer}; the fields are {year}, "
            "{month}, {period}, {issuer}, {seq}",
        ),
    ]
    twice = _with(
        '  invoice numbers "A/{seq}"\n  invoice numbers "B/{seq}"\n  accept late usage for 1 period'
    )
    assert [c for c, _ in _diagnostics(twice)] == [codes.DUPLICATE_NAME]


def test_terms_are_in_the_plan_and_its_json() -> None:
    text = _with('  invoice numbers "FV/{year}/{month}/{seq:05}"\n  accept late usage for 2 periods')
    plan = clearline.plan(SourceFile("terms.contract", text))
    assert plan.number_formats == (("invoice", "FV/{year}/{month}/{seq:05}"),)
    assert plan.late_periods == 2
    assert ir.from_json(ir.to_json(plan)) == plan
    plain = clearline.plan(SourceFile("plain.contract", SHARE_CONTRACT))
    assert "number_formats" not in ir.to_json(plain)  # unset: the plan's JSON as before


def test_close_numbers_with_the_declared_format(tmp_path: Path, ledger_url: str) -> None:
    (tmp_path / "share.contract").write_text(
        _with('  invoice numbers "FV/{year}/{month}/{seq:05}"\n  self-billing numbers "FS-{period}-{seq}"'),
        encoding="utf-8",
    )
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"] * 2)})
    with open_ledger(ledger_url) as ledger:
        close_run(run, ledger)
        assert [d.number for d in ledger.documents()] == [
            "FV/2026/03/00001",
            "FV/2026/03/00002",
            "FS-2026-03-1",
        ]


def test_late_usage_past_the_window_is_refused(tmp_path: Path, ledger_url: str) -> None:
    """Default window 1: March takes late records until April is closed."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"])})
    late = tmp_path / "late.csv"
    late.write_text(sales("L", "2026-03", ["5.00"]), encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "share.contract"])
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
        assert prior_for(ledger, plans, [late], "2026-03").resettles  # April still open: accepted
        close_run(april, ledger)
        with pytest.raises(LedgerError) as error:
            prior_for(ledger, plans, [late], "2026-03")
        assert error.value.diagnostics[0].code == codes.LATE_USAGE_TOO_LATE
        assert str(error.value) == (
            "RS-2026 2026-03 is past its late-usage window (the default window of 1 period(s)): "
            "2026-04 closed since"
        )
        wider = clearline.plan(SourceFile("w.contract", _with("  accept late usage for 2 periods")))
        assert prior_for(ledger, [wider], [late], "2026-03").resettles


@pytest.mark.parametrize("route", [True, False])
def test_a_record_of_a_period_past_the_window_is_a_reject_naming_the_clause(
    tmp_path: Path, ledger_url: str, route: bool
) -> None:
    """March and April closed, default window 1: April still takes late records (May is
    open), March does not (April closed since). May's run with a March, an April and a May
    record: the March record is a reject E0839 naming the window, never routed to a March
    run the ledger would refuse; the April one is routed (or, without routing, rejected as
    out of period, E0814); the May one, 7.00, is rated."""
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"])})
    usage = tmp_path / "may.csv"
    usage.write_text(
        sales("X", "2026-03", ["5.00"])
        + sales("Y", "2026-04", ["6.00"]).split("\n", 1)[1]
        + sales("Z", "2026-05", ["7.00"]).split("\n", 1)[1],
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([tmp_path / "share.contract"])
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
        close_run(april, ledger)
        prior = prior_for(ledger, plans, [usage], "2026-05")
    assert prior.too_late == {
        "RS-2026 2026-03": "RS-2026 2026-03 is past its late-usage window (the default window of 1"
        " period(s)): 2026-04 closed since"
    }
    out = tmp_path / "may"
    clearline.run(
        plans, [usage], "2026-05", out=out, prior=prior, out_of_period="route" if route else "reject"
    )
    rejects = {r["record_id"]: r for r in read_csv(out / "rejects.csv")}
    assert rejects["X-1"]["code"] == codes.REJECT_PAST_LATE_WINDOW
    assert "past its late-usage window (the default window of 1 period(s))" in rejects["X-1"]["reason"]
    if route:
        assert set(rejects) == {"X-1"}
        routed = (out / "routed-2026-04.jsonl").read_text(encoding="utf-8")
        assert '"Y-1"' in routed and "X-1" not in routed
        assert not (out / "routed-2026-03.jsonl").exists()
    else:
        assert set(rejects) == {"X-1", "Y-1"}
        assert rejects["Y-1"]["code"] == codes.REJECT_OUT_OF_PERIOD
    (line,) = [ln for ln in read_csv(out / "invoice_lines.csv")]
    assert line["amount"] == "7.00"
    # two worker processes are told the same (the ledger's windows travel with the engine)
    clearline.run(
        plans, [usage], "2026-05", out=tmp_path / "may2", prior=prior, workers=2,
        out_of_period="route" if route else "reject",
    )  # fmt: skip
    assert (tmp_path / "may2" / "rejects.csv").read_bytes() == (out / "rejects.csv").read_bytes()


def test_two_contracts_of_one_operator_with_other_formats_are_refused(
    tmp_path: Path, ledger_url: str
) -> None:
    text = _with('  invoice numbers "FV/{year}/{seq:05}"')
    other = text.replace("RS-2026", "RS-2027").replace('"sale"', '"sale2"').replace("FV/", "FA/")
    (tmp_path / "share.contract").write_text(text, encoding="utf-8")
    (tmp_path / "other.contract").write_text(other, encoding="utf-8")
    usage = tmp_path / "m.csv"
    usage.write_text(sales("M", "2026-03", ["10.00"]), encoding="utf-8")
    plans, _ = clearline.load_plans([tmp_path / "share.contract", tmp_path / "other.contract"])
    clearline.run(plans, [usage], "2026-03", out=tmp_path / "run")
    with open_ledger(ledger_url) as ledger:
        with pytest.raises(LedgerError) as error:
            close_run(tmp_path / "run", ledger)
        assert error.value.diagnostics[0].code == codes.INVALID_NUMBER_FORMAT
        assert "contracts RS-2026 and RS-2027 declare different invoice number formats for telcopl" in str(
            error.value
        )
        assert ledger.closes() == []


def test_compile_says_how_long_late_usage_is_accepted_and_whether_by_default() -> None:
    """Without the clause the window is the default (1 later closed period) and `compile`
    says it is the default; with `accept late usage for 2 periods` it says 2, declared;
    with 0, late usage is refused once the period is closed."""
    from clearline.compiler.printer import format_plan

    def printed(terms: str) -> str:
        return format_plan(clearline.plan(SourceFile("c.contract", _with(terms))))

    assert (
        "  late usage accepted for 1 later closed period "
        "(the default; `accept late usage for N periods` changes it)"
    ) in printed("")
    assert "  late usage accepted for 2 later closed periods (declared)" in printed(
        "  accept late usage for 2 periods"
    )
    assert "  late usage refused once its period is closed (declared)" in printed(
        "  accept late usage for 0 periods"
    )
