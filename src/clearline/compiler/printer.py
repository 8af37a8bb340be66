"""Plan -> readable text (what `clearline compile` prints).

Everything the engine will do is spelled out, including the defaults the
contract left implicit (marked `(default)`), so a reviewer reads the plan
rather than guessing the runtime.
"""

from __future__ import annotations

from decimal import Decimal

from clearline.compiler import ir, units
from clearline.compiler.bands import describe
from clearline.compiler.check_ledger import DEFAULT_LATE_PERIODS
from clearline.money import Rounding

__all__ = ["format_expr", "format_plan", "format_pred"]

_CMP = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _lit(value: str, numeric: bool) -> str:
    return value if numeric else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_pred(p: ir.Pred) -> str:
    if p.op in _CMP:
        return f"{p.field} {_CMP[p.op]} {_lit(p.values[0], p.numeric)}"
    if p.op == "in":
        return f"{p.field} in ({', '.join(_lit(v, p.numeric) for v in p.values)})"
    if p.op == "prefix":
        return f"{p.field} starts with {_lit(p.values[0], False)}"
    if p.op == "not":
        return f"not ({format_pred(p.args[0])})"
    return f"({format_pred(p.args[0])} {p.op} {format_pred(p.args[1])})"


def format_expr(e: ir.Expr, prorated: bool = False) -> str:
    if e.op == "money":
        return f"{e.value} {e.currency}"
    if e.op == "number":
        return str(e.value)
    if e.op == "per":
        if e.size is not None:
            return f"{e.value} {e.currency} per started block of {e.size} {e.unit}"
        text = f"{e.value} {e.currency} per {e.unit}"
        if e.unit == "month" and prorated:
            text += " × active days / period days"
        elif e.unit == "day":
            text += " × active days"
        return text
    if e.op == "share":
        assert e.value is not None
        return f"{format((e.value * 100).normalize(), 'f')}% × {e.base}"
    if e.op == "table":
        return f"rate from table {e.table}"
    if e.op == "tiers":
        return f"tiers {e.table} on the line's quantity"
    if e.op == "field":
        return f"{e.field} (from each record) {e.currency}"
    if e.op == "agg":
        return f"the {e.func} of {e.field} over the line's records"
    left, right = (format_expr(a, prorated) for a in e.args)
    if e.op in {"larger", "smaller"}:
        return f"{'max' if e.op == 'larger' else 'min'}({left}, {right})"
    sign = {"add": "+", "sub": "-", "mul": "×", "div": "/"}[e.op]
    return f"({left} {sign} {right})"


def _rounding(r: Rounding) -> str:
    return f"{r.mode} to {r.quantum}"


def _rate_lines(rate: ir.RatePlan, subscriber: bool = False) -> list[str]:
    """`subscriber`: the rule's lines are each a subscriber's (a subscription's charge)."""
    lines = [f"amount    {format_expr(rate.expr, rate.prorated)}"]
    # a subscriber's line prorated by its active days has its minimum and cap prorated too
    by_days = " × the subscriber's active days / the period's" if subscriber and rate.prorated else ""
    if rate.first is not None:
        lines.append(f"increments {rate.first}/{rate.next}")
    if rate.connect_fee is not None:
        lines.append(f"connect fee {rate.connect_fee} on answered events")
    if rate.minimum is not None:
        lines.append(f"at least  {rate.minimum} per event")
    if rate.maximum is not None:
        lines.append(f"at most   {rate.maximum} per event")
    if rate.line_level:
        lines.append("priced once per line, from its totals")
    if rate.cap is not None:
        lines.append(f"capped at {rate.cap} per line and period{by_days}")
    if rate.floor is not None:
        lines.append(f"at least  {rate.floor} per line and period{by_days}")
    if rate.allowance is not None:
        per = f" for each {rate.allowance_per}" if rate.allowance_per else " per line"
        lines.append(f"free      first {rate.allowance}{per}{', pooled' if rate.pooled else ''}")
    if rate.record_rounding is not None:
        lines.append(f"round each unit {_rounding(rate.record_rounding)}")
    default = "" if rate.line_rounding_declared else "  (default)"
    lines.append(f"round line {_rounding(rate.line_rounding)}{default}")
    if rate.group_by:
        lines.append(f"one line per {rate.group_by}")
    return lines


def _step(step: ir.StepPlan) -> str:
    if step.kind == "rest":
        return "the rest"
    if step.kind == "fixed":
        return f"{step.value}"
    if step.kind == "tiers":
        assert step.tiers is not None
        bands = "; ".join(
            f"[{b.lower}, {'∞' if b.upper is None else b.upper}) {format((b.rate * 100).normalize(), 'f')}%"
            for b in step.tiers.bands
        )
        return f"tiers {step.tiers.name} ({step.tiers.mode}: {bands}) of the remainder"
    assert step.value is not None
    pct = format((step.value * 100).normalize(), "f")
    of = {"base": "the base", "remainder": "the remainder", "step": f'"{step.of_step}"'}[step.kind]
    return f"{pct}% of {of}"


def _late_usage(plan: ir.ContractPlan) -> str:
    """How long a closed period still takes late usage, the default said as such."""
    n = DEFAULT_LATE_PERIODS if plan.late_periods is None else plan.late_periods
    said = (
        "the default; `accept late usage for N periods` changes it"
        if plan.late_periods is None
        else "declared"
    )
    if not n:
        return f"  late usage refused once its period is closed ({said})"
    return f"  late usage accepted for {n} later closed period{'' if n == 1 else 's'} ({said})"


def _particulars(d: ir.PartyDetails) -> str:
    """`"TelcoPL Spółka Akcyjna", ul. Marszałkowska 142, 00-061 Warszawa, PL; VAT PL5260250274; ...`"""
    place = " ".join(x for x in (d.postcode, d.city) if x)
    name = f'"{d.legal_name}"' if d.legal_name else ""
    parts = ", ".join(x for x in (name, *d.address, place, d.country) if x)
    extras = [
        f"VAT {d.vat_id}" if d.vat_id else "",
        d.registration,
        " ".join(x for x in (f"IBAN {d.iban}" if d.iban else "", f"BIC {d.bic}" if d.bic else "") if x),
        f"payment due {d.payment_days} days after issue" if d.payment_days is not None else "",
    ]
    return "; ".join(x for x in (parts, *extras) if x)


def format_plan(plan: ir.ContractPlan) -> str:
    out = [
        f'plan {plan.id} version {plan.version} "{plan.title}" (schema {plan.schema})',
        f"  source     {plan.file} sha256:{plan.sha256[:16]}",
        f"  effective  {plan.effective_from} until {plan.effective_until} (half-open)",
        f"  settle     {plan.period} in {plan.currency}, time zone {plan.time_zone}",
        _late_usage(plan),
        *(
            f'  unit       {u.code} "{u.name}", {u.digits} digits: prices in {u.code} are converted into '
            f"{plan.currency} at the rate of the {u.fixing} (FX table), before rating"
            for u in plan.units_of_account
        ),
        "  parties",
    ]
    for p in plan.parties:
        extras = " ".join(x for x in (p.country, p.language) if x)
        out.append(f'    {p.role:<8} {p.name:<12} "{p.title}" {p.currency} {extras}'.rstrip())
        if p.details is not None:
            out.append(f"      {_particulars(p.details)}")
    out.append("  fields     " + ", ".join(f"{f.name} {f.type}" for f in plan.fields))
    for prod in plan.products:
        out.append(
            f'  product {prod.name} "{prod.title}" ({prod.kind}, measured in {units.plural(prod.measure)})'
        )
        out.append(f"    matches   {format_pred(prod.matches)}")
        if prod.split_at_changes:
            out.append(
                "    split     a record running past the next version's start is split by time,"
                " each part rated by its version, increments per part"
            )
        if prod.bands is not None:
            cut = "; a record running into the next band is split there, increments per part"
            out.append(f"    bands     on the clock of {prod.bands.zone}, the band at a record's start "
                       "prices it" + (cut if prod.split_at_changes else " whole"))  # fmt: skip
            for band in prod.bands.bands:
                out.append(f'      {band.name} "{band.label}": ' + "; ".join(describe(*w) for w in band.week))
            if prod.bands.holiday_band:
                days = ", ".join(prod.bands.holidays)
                out.append(f"      holidays ({days}): {prod.bands.holiday_band}, all day")
        if prod.starts and prod.ends:
            out.append(f"    starts    {format_pred(prod.starts)}")
            out.append(f"    ends      {format_pred(prod.ends)}")
        else:
            out.append(f"    answered  {format_pred(prod.answered)}")
        for tier in prod.tiers:
            out.append(f"    tiers {tier.name} {tier.mode} ({tier.kind})")
            for b in tier.bands:
                per = f" per {tier.unit}" if tier.unit else ""
                out.append(
                    f"      [{b.lower}, {'∞' if b.upper is None else b.upper}) at {b.rate}"
                    f"{' ' + tier.currency if tier.currency and tier.kind == 'price' else ''}{per}"
                )
        for t in prod.tables:
            key = "longest prefix" if t.key_kind == "prefix" else "value"
            out.append(f"    table {t.name} by {key} of {t.field}")
            for row in t.rows:
                inc = f", increments {row.first}/{row.next}" if row.first is not None else ""
                fee = f", connect fee {row.connect_fee}" if row.connect_fee is not None else ""
                out.append(f'      "{row.key}" {row.price} {row.currency} per {row.per}{inc}{fee}')
        for charge in prod.charges:
            during = f" during {charge.clause.band}" if charge.clause.band else ""
            out.append(f"    charge customer  [{charge.clause.label}]{during} {charge.span}")
            subscriber = prod.kind == "subscription"
            out += [f"      {line}" for line in _rate_lines(charge.rate, subscriber)]
            if charge.vat_rate is not None:
                vat = format((charge.vat_rate * 100).normalize(), "f")
                if charge.vat_included:
                    divisor = 1 + charge.vat_rate
                    record = charge.rate.record_rounding
                    where = (
                        f"each record's net is its amount / {divisor}, rounded {record.describe()} "
                        "(the record rounding)"
                        if record is not None
                        else f"each line's net is its total / {divisor}, rounded "
                        f"{charge.rate.line_rounding.describe()} (the line rounding; no record rounding)"
                    )
                    out.append(f"      vat       {vat}% included: {where}")
                elif charge.reverse_charge:
                    out.append(f"      vat       {vat}% reverse charge")
                else:
                    out.append(f"      vat       {vat}% of the rounded line")
        for payout in prod.payouts:
            during = f" during {payout.clause.band}" if payout.clause.band else ""
            out.append(f"    pay {payout.party}  [{payout.clause.label}]{during} {payout.span}")
            out += [f"      {line}" for line in _rate_lines(payout.rate)]
        for payout in prod.billed:
            share = payout.rate.expr
            out.append(f"    pay {payout.party}  [{payout.clause.label}] {payout.span}")
            percent = format((share.value or Decimal(0)).scaleb(2).normalize(), "f")
            if share.op == "share":
                out.append(
                    f"      amount    {percent}% of the period's billed {share.base} (its invoice lines "
                    "after the product's discounts), once per period"
                )
            else:  # arithmetic of billed shares and amounts fixed for the period
                out.append(
                    f"      amount    {share.text}, once per period (each share of the billed net or gross:"
                    " of its invoice lines after the product's discounts)"
                )
            default = "" if payout.rate.line_rounding_declared else "  (default)"
            out.append(f"      round line {_rounding(payout.rate.line_rounding)}{default}")
        for commit in prod.commitments:
            clauses = ", ".join(f'"{c}"' for c in commit.clauses)
            days = "each subscriber's active days" if prod.kind == "subscription" else "contract days"
            prorated = f", prorated by {days}" if commit.prorated else ""
            out.append(
                f"    commitment {commit.amount} {commit.currency} per customer and period on {clauses}"
                f"{prorated}, true-up rounded {_rounding(commit.line_rounding)}  [{commit.clause.label}]"
            )
        for wf in prod.waterfalls:
            out.append(f"    waterfall on the period's {wf.base}  [{wf.clause.label}] {wf.span}")
            for i, step in enumerate(wf.steps, start=1):
                rounding = f", round {_rounding(step.rounding)}" if step.rounding else ""
                out.append(f"      {i}. {step.label}: {step.party} takes {_step(step)}{rounding}")
        for disc in prod.discounts:
            what = (
                f"{format((disc.fraction * 100).normalize(), 'f')}%"
                if disc.fraction is not None
                else f"{disc.amount}"
            )
            on = ", ".join(f'"{c}"' for c in disc.clauses) or "all charges"
            out.append(f"    discount {what} on {on}, per customer and VAT rate  [{disc.clause.label}]")
        for split in prod.splits:
            percents = tuple(f"{format((f * 100).normalize(), 'f')}%" for _, f in split.shares)
            written = split.written or percents
            shares = ", ".join(f"{party} {w}" for (party, _), w in zip(split.shares, written, strict=True))
            residual = f"residual to {split.residual}" if split.residual else "residual by largest remainder"
            out.append(f"    split the period's {split.base}: {shares}; {residual}  [{split.clause.label}]")
        for wh in prod.withholdings:
            out.append(
                f"    withhold {format((wh.rate * 100).normalize(), 'f')}% tax from {wh.party}'s payouts"
                f"  [{wh.clause.label}]"
            )
        for conv in prod.conversions:
            out.append(
                f"    convert {conv.party} to {conv.currency} at the rate of the {conv.fixing}, "
                f"round {_rounding(conv.rounding)}  [{conv.clause.label}] {conv.span}"
            )
        out.append(f"    retained  net revenue - payouts, to {plan.operator.name}")
    return "\n".join(out) + "\n"
