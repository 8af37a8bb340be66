"""Properties of the ledger (hypothesis).

- Late usage adds up: for any split of a period's records into "on time" and
  "late", the lines issued for the on-time records plus the adjustments of
  re-settling with the late ones equal the lines of settling every record at
  once -- exactly, per line and party, amounts, VAT and gross alike.
- Numbering is gapless: whatever order closes come in (repeats and refused
  closes among them), each series is numbered 1..n and the chain verifies.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.ledger import LedgerError, open_ledger
from clearline.ledger.closing import close_run
from clearline.runtime.settlement.prior import Issued, Prior
from clearline.runtime.settlement.settle import Settlement
from clearline.runtime.store import partials
from conftest import CONTRACTS
from ledger_support import sales, settle_share

GAMESTUDIO, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
HEAD = "record_id,timestamp,customer_id,service,merchant,amount,currency\n"


def _usage(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text(
        HEAD
        + "".join(
            f"P-{i},2026-03-{(i % 28) + 1:02d}T12:00:00+01:00,{customer},"
            f"carrier-billing,gamestudio,{amount},PLN\n"
            for i, customer, amount in rows
        ),
        encoding="utf-8",
    )
    return path


def _prior(result: Settlement) -> Prior:
    """What the ledger would hold after closing `result` (without a database)."""
    assert result.partials is not None
    base = [(key, data) for _, key, data in partials.dump(result.partials, result.plans)]
    issued = [
        Issued(
            ln.line_id,
            ln.kind,
            ln.party,
            ln.party_name,
            ln.contract_id,
            ln.period,
            ln.currency,
            ln.amount,
            ln.vat_amount,
            ln.gross_amount,
            ln.paid_amount,
            ln.paid_currency,
            f"DOC-{ln.party}",
        )
        for ln in result.lines
    ]
    return Prior(result.period, {}, base, issued, [(1, "h")])


AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("4000.00"), places=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.tuples(st.sampled_from(["C-1", "C-2", "C-3"]), AMOUNTS), min_size=2, max_size=14),
    late=st.lists(st.booleans(), min_size=14, max_size=14),
)
def test_on_time_plus_adjustments_equal_all_at_once(
    tmp_path: Path, records: list[tuple[str, Decimal]], late: list[bool]
) -> None:
    """Through the GameStudio waterfall (VAT included, 3% allowance, 8% fee, 70%/80% tiers)."""
    rows = [(i, customer, format(amount, "f")) for i, (customer, amount) in enumerate(records)]
    on_time = [r for r, is_late in zip(rows, late, strict=False) if not is_late]
    later = [r for r, is_late in zip(rows, late, strict=False) if is_late]
    whole = clearline.run(GAMESTUDIO, [_usage(tmp_path / "all.csv", rows)], "2026-03")
    first = clearline.run(GAMESTUDIO, [_usage(tmp_path / "on-time.csv", on_time)], "2026-03")
    again = clearline.run(GAMESTUDIO, [_usage(tmp_path / "late.csv", later)], "2026-03", prior=_prior(first))
    zero = Decimal(0)
    summed: dict[tuple[str, str], list[Decimal]] = {}
    for ln in first.lines:
        summed[(ln.line_id, ln.party)] = [ln.amount, ln.vat_amount or zero, ln.gross_amount or zero]
    for a in again.adjustments:
        got = summed.setdefault((a.adjusts, a.party), [zero, zero, zero])
        got[0] += a.amount
        got[1] += a.vat_amount or zero
        got[2] += a.gross_amount or zero
    expected = {
        (ln.line_id, ln.party): [ln.amount, ln.vat_amount or zero, ln.gross_amount or zero]
        for ln in whole.lines
    }
    assert {k: v for k, v in summed.items() if any(v) or k in expected} == expected
    assert {(ln.line_id, ln.amount) for ln in again.lines} == {(ln.line_id, ln.amount) for ln in whole.lines}


def _runs(folder: Path) -> dict[str, Path]:
    runs = {}
    for name, month in (("2026-03", "2026-03"), ("2026-04", "2026-04"), ("2026-05", "2026-05")):
        runs[name] = settle_share(
            folder, name, month, {f"{name}.csv": sales(f"R{month}", month, ["10.00"] * 3)}
        )
    runs["2026-03b"] = settle_share(
        folder, "2026-03b", "2026-03", {"b.csv": sales("B", "2026-03", ["20.00"])}
    )
    return runs


@settings(max_examples=8, deadline=None)
@given(order=st.lists(st.sampled_from(["2026-03", "2026-04", "2026-05", "2026-03b"]), min_size=1, max_size=6))
def test_numbering_is_gapless_in_any_order_of_closes(order: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = _runs(folder)
        with open_ledger(str(folder / "ledger.sqlite")) as ledger:
            closed: list[str] = []
            for name in order:
                month = name[:7]
                try:
                    outcome = close_run(runs[name], ledger).outcome
                except LedgerError:
                    assert any(c[:7] == month and c != name for c in closed)  # refused: another run closed it
                    continue
                if not outcome.already:
                    closed.append(name)
            per_series: dict[str, list[int]] = {}
            for doc in ledger.documents():
                per_series.setdefault(doc.series, []).append(doc.seq)
            for seqs in per_series.values():
                assert sorted(seqs) == list(range(1, len(seqs) + 1))
            # each closed run: an invoice per customer (3 records over C1 and C2; "b" has one) and a statement
            invoices = sum(1 if name == "2026-03b" else 2 for name in closed)
            assert len(per_series.get("invoice", [])) == invoices
            assert len(per_series.get("self-billing", [])) == len(closed)
            assert ledger.verify() == []
