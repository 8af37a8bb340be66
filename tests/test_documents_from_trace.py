"""Documents take a true-up's commitment, a discount's percentage and base, and a payout's
shares from the trace (issue 10: the trace carries everything the documents show), not
from the recorded plan: each figure a document shows equals the trace's, and a trace
that says otherwise is what the document shows."""

from __future__ import annotations

import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import clearline
from clearline.reports.invoices import build_invoices
from clearline.reports.rundata import read_run
from clearline.reports.statements import build_statements

CONTRACT = """\
contract RS-2026 "Revenue share" {
  version 1
  effective 2026-01-01 until 2027-01-01
  settle monthly in PLN, time zone Europe/Warsaw

  operator telcopl "TelcoPL S.A." currency PLN  country PL  language en
  partner  studio  "Studio Sp. z o.o." currency PLN  country PL  language en

  usage fields {
    service text
    amount  decimal
  }

  product sales "Sales" {
    matches service = "sale"
    clause "1 Price" {
      charge customer the value of amount in PLN
      round each line half up to 0.01
    }
    clause "2 Loyalty" "10% off the price." {
      discount 10% on clause "1 Price"
      round each line half up to 0.01
    }
    clause "3 Commitment" "At least 1,000.00 PLN a month." {
      minimum spend 1000.00 PLN per month on clause "1 Price"
      round each line half up to 0.01
    }
    clause "4 Share" {
      pay studio 55% of net
      round each line half up to 0.01
    }
  }
}
"""

USAGE = """\
record_id,timestamp,customer_id,service,amount
S-1,2026-03-02T10:00:00+01:00,C1,sale,300.00
S-2,2026-03-03T10:00:00+01:00,C1,sale,100.00
S-3,2026-03-04T10:00:00+01:00,C2,sale,2000.00
"""


def _settle(folder: Path, contract: str = CONTRACT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rs.contract").write_text(contract, encoding="utf-8")
    (folder / "usage.csv").write_text(textwrap.dedent(USAGE), encoding="utf-8")
    plans, _ = clearline.load_plans([folder / "rs.contract"])
    clearline.run(plans, [folder / "usage.csv"], "2026-03", out=folder / "run")
    return folder / "run"


def _traces(run: Path) -> dict[str, dict[str, object]]:
    lines = (run / "trace.jsonl").read_text(encoding="utf-8").splitlines()
    return {t["line_id"]: t for t in map(json.loads, lines)}


def test_a_documents_figures_are_the_traces(tmp_path: Path) -> None:
    """C1 buys 300.00 + 100.00 = 400.00: the discount 10% of 400.00 = -40.00, and the
    commitment 1,000.00 less the 400.00 charged = a 600.00 true-up. C2 buys 2,000.00:
    discount -200.00, no true-up. The studio's 55% of the net (each line's net at 55%)."""
    run = _settle(tmp_path)
    traces = _traces(run)
    data = read_run(run)
    invoices = {inv.party.id: inv for inv in build_invoices(data, "en")}
    c1 = {d.line.clause: d for d in invoices["C1"].lines}
    assert c1["3 Commitment"].line.amount == Decimal("600.00")
    commitment = c1["3 Commitment"].commitment
    assert commitment is not None
    recorded = traces[c1["3 Commitment"].line.line_id]["commitment"]
    assert recorded == {"committed": "1000.00", "charged": "400.00", "clauses": ["1 Price"]}
    assert (commitment.committed, commitment.charged, commitment.clauses) == (
        Decimal("1000.00"),
        Decimal("400.00"),
        ("1 Price",),
    )
    discount = c1["2 Loyalty"].discount
    assert c1["2 Loyalty"].line.amount == Decimal("-40.00") and discount is not None
    trace = traces[c1["2 Loyalty"].line.line_id]
    assert trace["discount"] == {"fraction": "0.1", "amount": None, "clauses": ["1 Price"]}
    assert trace["discounted_base"] == "400.00"
    assert (discount.fraction, discount.amount, discount.base, discount.clauses) == (
        Decimal("0.10"),
        None,
        Decimal("400.00"),
        ("1 Price",),
    )
    (statement,) = build_statements(data, "en")
    for s in statement.lines:
        recorded_shares = traces[s.doc.line.line_id]["shares"]
        assert recorded_shares == [{"rate": "0.55", "of": "net"}]
        assert s.shares == (Decimal("0.55"),)
        assert s.basis is not None and s.basis.label == "Net revenue"


def test_a_trace_that_says_otherwise_is_what_the_document_shows(tmp_path: Path) -> None:
    """The documents read the trace, never the plan: a trace edited to say the commitment
    was 1,200.00, the discount 15% and the share 60% is what they show (verify would flag
    the edit; the documents only render)."""
    run = _settle(tmp_path / "a")
    copy = tmp_path / "b"
    shutil.copytree(run, copy)
    text = (copy / "trace.jsonl").read_text(encoding="utf-8")
    edited = []
    for line in text.splitlines():
        t = json.loads(line)
        if "commitment" in t:
            t["commitment"]["committed"] = "1200.00"
        if "discount" in t:
            t["discount"]["fraction"] = "0.15"
        if "shares" in t:
            t["shares"] = [{"rate": "0.60", "of": "net"}]
        edited.append(json.dumps(t))
    (copy / "trace.jsonl").write_text("\n".join(edited) + "\n", encoding="utf-8")
    data = read_run(copy)
    c1 = {d.line.clause: d for d in next(i for i in build_invoices(data, "en") if i.party.id == "C1").lines}
    assert c1["3 Commitment"].commitment is not None
    assert c1["3 Commitment"].commitment.committed == Decimal("1200.00")
    assert c1["2 Loyalty"].discount is not None and c1["2 Loyalty"].discount.fraction == Decimal("0.15")
    (statement,) = build_statements(data, "en")
    assert {s.shares for s in statement.lines} == {(Decimal("0.60"),)}


def test_the_new_trace_fields_fit_the_schema(tmp_path: Path) -> None:
    """`shares`, `commitment` and `discount` are documented in trace-1.schema.json."""
    from test_schemas import validator

    check = validator("trace-1.schema.json")
    traces = _traces(_settle(tmp_path))
    assert {k for t in traces.values() for k in ("shares", "commitment", "discount") if k in t} == {
        "shares",
        "commitment",
        "discount",
    }
    for t in traces.values():
        check.validate(t)
    bad = dict(next(t for t in traces.values() if "commitment" in t))
    bad["commitment"] = {"committed": 1000, "charged": "400.00", "clauses": []}  # a JSON number
    assert list(check.iter_errors(bad))


def test_a_waterfalls_steps_are_the_traces(tmp_path: Path) -> None:
    """GameStudio's waterfall on a net of 20.00 + 50.00 = 70.00: 3% kept (2.10), PayHub
    8% of 67.90 = 5.43, GameStudio 70% of 62.47 = 43.73 (its first band). Each step's
    kind, share and basis on the statement are its trace entry's; an entry edited to say
    9% is what the statement shows."""
    from conftest import CONTRACTS

    usage = tmp_path / "dcb.csv"
    usage.write_text(
        "record_id,timestamp,customer_id,service,merchant,amount,currency\n"
        "P-1,2026-03-05T12:00:00+01:00,C-1001,carrier-billing,gamestudio,24.60,PLN\n"
        "P-2,2026-03-06T12:00:00+01:00,C-1002,carrier-billing,gamestudio,61.50,PLN\n",
        encoding="utf-8",
    )
    plans, _ = clearline.load_plans([CONTRACTS / "gamestudio.contract"])
    clearline.run(plans, [usage], "2026-03", out=tmp_path / "run")
    data = read_run(tmp_path / "run")
    studio = next(s for s in build_statements(data, "en") if s.party.id == "gamestudio")
    (line,) = studio.lines
    assert line.doc.line.amount == Decimal("43.73")
    entries = data.traces[line.doc.line.line_id]["waterfall"]
    assert [(e["step"], e["kind"], e["value"], e["basis"]) for e in entries[:2]] == [
        ("bad-debt allowance", "base", "0.03", "70.00"),
        ("aggregator fee", "remainder", "0.08", "67.90"),
    ]
    assert entries[2]["kind"] == "tiers" and entries[2]["rates"] == ["0.7", "0.8"]
    assert [(st.kind, st.shares, st.basis.amount) for st in line.steps] == [
        ("base", (Decimal("0.03"),), Decimal("70.00")),
        ("remainder", (Decimal("0.08"),), Decimal("67.90")),
        ("tiers", (Decimal("0.70"), Decimal("0.80")), Decimal("62.47")),
    ]
    text = (tmp_path / "run" / "trace.jsonl").read_text(encoding="utf-8")
    (tmp_path / "run" / "trace.jsonl").write_text(
        text.replace('"value": "0.08"', '"value": "0.09"'), encoding="utf-8"
    )
    edited = next(s for s in build_statements(read_run(tmp_path / "run"), "en") if s.party.id == "gamestudio")
    assert edited.lines[0].steps[1].shares == (Decimal("0.09"),)


def test_a_withholdings_rate_is_the_traces(tmp_path: Path) -> None:
    """10% withheld from the studio's 55% payouts: the statement's rate is the trace's."""
    taxed = CONTRACT.replace(
        '    clause "4 Share" {',
        '    clause "5 Tax" "Tax withheld at source." {\n      withhold 10% tax from studio\n    }\n'
        '    clause "4 Share" {',
    )
    run = _settle(tmp_path, taxed)
    traces = _traces(run)
    (statement,) = build_statements(read_run(run), "en")
    rows = [w for s in statement.lines for w in s.withholding] + statement.withholding
    assert rows
    for w in rows:
        recorded = traces[w.doc.line.line_id]["withholding"]
        assert recorded["rate"] == "0.1" and w.rate == Decimal("0.1")
        assert w.basis is not None and Decimal(recorded["basis"]) == w.basis
