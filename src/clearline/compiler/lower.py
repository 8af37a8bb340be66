"""Lowering: checked AST -> settlement plan (`ir.ContractPlan`).

Input: an `ast.Contract` with no check errors and its `SourceFile`. Output:
plain data the runtime executes. Defaults the checker warned about are made
explicit here (line rounding, the answered rule), so the plan says everything.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from clearline.compiler import bands, ir, units
from clearline.compiler.check import IMPLICIT_FIELDS
from clearline.compiler.lower_parts import _details, _exprs, _split_weights
from clearline.grammar import ast
from clearline.money import Rounding, minor_unit
from clearline.source import SourceFile, Span

__all__ = ["lower_contract"]

_OPS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


class _Lines:
    """Each source file's lines, split once per lowering: a contract has a span per rule."""

    def __init__(self, sources: dict[str, SourceFile]) -> None:
        self.sources = sources
        self.split: dict[str, list[str]] = {}

    def of(self, file: str) -> list[str]:
        if file not in self.split:
            source = self.sources.get(file)
            self.split[file] = source.text.splitlines() if source is not None else []
        return self.split[file]


def _text(sources: _Lines, span: Span) -> str:
    lines = sources.of(span.file)[span.line - 1 : span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.col - 1 : span.end_col - 1]
    lines[0] = lines[0][span.col - 1 :]
    lines[-1] = lines[-1][: span.end_col - 1]
    return " ".join(line.strip() for line in lines)


def _literal(value: str | Decimal) -> str:
    return str(value)


class _Lowerer:
    def __init__(self, contract: ast.Contract, sources: dict[str, SourceFile]) -> None:
        self.c = contract
        self.source = sources
        self.lines = _Lines(sources)
        self.currency = contract.settle[0].currency
        self.tables = {t.name.name: t for t in contract.tables}
        self.units_declared = units.declared_words(u.name for u in contract.units)
        self.measure = "event"  # of the product being lowered
        self.deductions: tuple[ast.Deduction, ...] = ()

    def pred(self, p: ast.Pred) -> ir.Pred:
        text = _text(self.lines, p.span)
        if isinstance(p, ast.Compare):
            return ir.Pred(
                _OPS[p.op],
                p.field.name,
                (_literal(p.value),),
                isinstance(p.value, Decimal),
                text=text,
            )
        if isinstance(p, ast.OneOf):
            return ir.Pred(
                "in",
                p.field.name,
                tuple(_literal(v) for v in p.values),
                any(isinstance(v, Decimal) for v in p.values),
                text=text,
            )
        if isinstance(p, ast.StartsWith):
            return ir.Pred("prefix", p.field.name, (p.prefix,), text=text)
        if isinstance(p, ast.Not):
            return ir.Pred("not", args=(self.pred(p.operand),), text=text)
        op = "and" if isinstance(p, ast.And) else "or"
        return ir.Pred(op, args=(self.pred(p.left), self.pred(p.right)), text=text)

    def expr(self, e: ast.Expr) -> ir.Expr:
        text = _text(self.lines, e.span)
        if isinstance(e, ast.Money):
            if e.per is None:
                return ir.Expr("money", value=e.amount, currency=e.currency, text=text)
            return ir.Expr(
                "per",
                value=e.amount,
                currency=e.currency,
                unit=units.canonical(e.per, self.units_declared),
                text=text,
                size=e.block,
            )
        if isinstance(e, ast.Number):
            return ir.Expr("number", value=e.value, text=text)
        if isinstance(e, ast.Share):
            if e.component is not None:
                return ir.Expr(
                    "allocated",
                    value=e.percent / 100,
                    base=e.base,
                    field=e.component.name,
                    size=minor_unit(self.currency),
                    text=text,
                )
            if e.after_deductions:
                base = ir.Expr("base", base=e.base, text=e.base)
                for d in self.deductions:
                    base = ir.Expr("sub", (base, self.expr(d.amount)), text=f"{base.text} - {d.name.name}")
                return ir.Expr("share_of", (base,), value=e.percent / 100, text=text)
            return ir.Expr("share", value=e.percent / 100, base=e.base, text=text)
        if isinstance(e, ast.ShareOf):
            return ir.Expr("share_of", (self.expr(e.amount),), value=e.percent / 100, text=text)
        if isinstance(e, ast.BaseAmount) and e.component is not None:
            return ir.Expr(
                "allocated",
                value=Decimal(1),
                base=e.base,
                field=e.component.name,
                size=minor_unit(self.currency),
                text=text,
            )
        if isinstance(e, ast.BaseAmount) and e.after_deductions:
            base = ir.Expr("base", base=e.base, text=e.base)
            for d in self.deductions:
                base = ir.Expr("sub", (base, self.expr(d.amount)), text=f"{base.text} - {d.name.name}")
            return ir.Expr("share_of", (base,), value=Decimal(1), text=text)
        if isinstance(e, ast.BaseAmount):
            return ir.Expr("base", base=e.base, text=text)
        if isinstance(e, ast.RemainderAfter):
            return ir.Expr("remainder_after", field=e.label, text=text)
        if isinstance(e, ast.PayoutTo):
            return ir.Expr("payout_to", field=e.party.name, text=text)
        if isinstance(e, ast.TableRate):
            return ir.Expr("table", table=e.table.name, text=text)
        if isinstance(e, ast.TierRef):
            return ir.Expr("tiers", table=e.table.name, base=e.base, text=text)
        if isinstance(e, ast.FieldValue):
            return ir.Expr("field", field=e.field.name, currency=e.currency, text=text)
        if isinstance(e, ast.Aggregate):
            return ir.Expr("agg", field=e.field.name, func=e.func, text=text)
        if isinstance(e, ast.Add):
            op = "add" if e.op == "+" else "sub"
        elif isinstance(e, ast.Mul):
            op = "mul" if e.op == "*" else "div"
        else:
            assert isinstance(e, ast.Larger)
            op = "larger" if e.larger else "smaller"
        return ir.Expr(op, (self.expr(e.left), self.expr(e.right)), text=text)

    def clause_ref(self, clause: ast.Clause) -> ir.ClauseRef:
        lines = self.lines.of(clause.span.file)[clause.span.line - 1 : clause.span.end_line]
        band = clause.band.name if clause.band else None
        return ir.ClauseRef(clause.label, clause.text, clause.span, "\n".join(lines), band)

    def rate(self, rule: ast.Charge | ast.Pay, clause: ast.Clause) -> ir.RatePlan:
        inc = next((m for m in rule.modifiers if isinstance(m, ast.Increments)), None)
        fee = next((m for m in rule.modifiers if isinstance(m, ast.ConnectFee)), None)
        rounds = {r.point or "line": r for r in clause.rules if isinstance(r, ast.Round)}
        record = rounds.get("record")
        line = rounds.get("line")
        group = next((r.key.name for r in clause.rules if isinstance(r, ast.LinePer)), None)
        limits = {m.kind: m.amount.amount for m in rule.modifiers if isinstance(m, ast.Limit)}
        allowance = next((m for m in rule.modifiers if isinstance(m, ast.Allowance)), None)
        line_level = allowance is not None or any(
            isinstance(e, ast.TierRef | ast.Aggregate) for e in _exprs(rule.amount)
        )
        free = None
        if allowance is not None:
            measure = self.measure
            free = allowance.amount * units.factor(
                measure, units.canonical(allowance.unit, self.units_declared)
            )
        return ir.RatePlan(
            expr=self.expr(rule.amount),
            prorated=any(isinstance(m, ast.Prorated) for m in rule.modifiers),
            first=inc.first if inc else None,
            next=inc.next if inc else None,
            connect_fee=fee.fee.amount if fee else None,
            record_rounding=Rounding(record.mode, record.quantum) if record else None,
            line_rounding=(
                Rounding(line.mode, line.quantum) if line else Rounding("half up", minor_unit(self.currency))
            ),
            line_rounding_declared=line is not None,
            group_by=group,
            minimum=limits.get("minimum"),
            maximum=limits.get("maximum"),
            cap=limits.get("cap"),
            line_level=line_level,
            floor=limits.get("floor"),
            allowance=free,
            allowance_per=allowance.per.name if allowance and allowance.per else None,
            pooled=any(isinstance(m, ast.Pooled) for m in rule.modifiers),
        )

    def tier(self, t: ast.TierTable) -> ir.TierPlan:
        share = any(b.percent for b in t.bands)
        bands = tuple(ir.BandPlan(b.lower, b.upper, b.rate / 100 if b.percent else b.rate) for b in t.bands)
        unit = next((units.canonical(b.unit, self.units_declared) for b in t.bands if b.unit), None)
        currency = next((b.currency for b in t.bands if b.currency), None)
        return ir.TierPlan(
            t.name.name, t.mode, "share" if share else "price", unit, currency, bands, t.span, t.over
        )

    def rounding_or_default(self, r: ast.Round | None) -> Rounding:
        return Rounding(r.mode, r.quantum) if r else Rounding("half up", minor_unit(self.currency))

    def waterfall(
        self, rule: ast.Distribute, ref: ir.ClauseRef, tiers: dict[str, ast.TierTable]
    ) -> ir.WaterfallPlan:
        steps = []
        for i, st in enumerate(rule.steps):
            table = tiers.get(st.tiers.name) if st.tiers else None
            value = st.percent / 100 if st.percent is not None else (st.money.amount if st.money else None)
            steps.append(
                ir.StepPlan(
                    label=st.label or ("the rest" if st.kind == "rest" else f"step {i + 1}"),
                    party=st.party.name,
                    kind=st.kind,
                    value=value,
                    of_step=st.of_step[0] if st.of_step else None,
                    tiers=self.tier(table) if table else None,
                    rounding=None if st.kind == "rest" else self.rounding_or_default(st.rounding),
                    span=st.span,
                    text=_text(self.lines, st.span),
                )
            )
        return ir.WaterfallPlan(ref, rule.span, rule.base, tuple(steps))

    def table(self, t: ast.RateTable) -> ir.TablePlan:
        rows = tuple(
            ir.RowPlan(
                key=r.key,
                price=r.price.amount,
                currency=r.price.currency,
                per=units.canonical(r.price.per or "event", self.units_declared),
                first=r.increments.first if r.increments else None,
                next=r.increments.next if r.increments else None,
                connect_fee=r.connect_fee.fee.amount if r.connect_fee else None,
                span=r.span,
            )
            for r in t.rows
        )
        return ir.TablePlan(t.name.name, t.key_kind, t.field.name, rows, t.span)

    def conversions(self) -> tuple[ir.ConversionPlan, ...]:
        """Every `pay PARTY in CUR at the rate of ...` of the contract, whichever product holds it."""
        out: list[ir.ConversionPlan] = []
        for product in self.c.products:
            for clause in product.clauses:
                for rule in clause.rules:
                    if not isinstance(rule, ast.Convert):
                        continue
                    rounding = (
                        Rounding(rule.rounding.mode, rule.rounding.quantum)
                        if rule.rounding
                        else Rounding("half up", minor_unit(rule.currency))
                    )
                    out.append(
                        ir.ConversionPlan(
                            rule.party.name,
                            rule.currency,
                            rule.fixing,
                            rounding,
                            self.clause_ref(clause),
                            rule.span,
                        )
                    )
        return tuple(out)

    def product(self, p: ast.Product) -> ir.ProductPlan:
        charges: list[ir.ChargePlan] = []
        payouts: list[ir.PayoutPlan] = []
        billed: list[ir.PayoutPlan] = []  # shares of the billed net, priced after the discounts
        used_tables: list[str] = []
        commitments: list[ir.CommitPlan] = []
        waterfalls: list[ir.WaterfallPlan] = []
        withholdings: list[ir.WithholdPlan] = []
        discounts: list[ir.DiscountPlan] = []
        splits: list[ir.SplitPlan] = []
        self.measure = units.canonical(p.measured[0][0], self.units_declared) if p.measured else "event"
        self.deductions = p.deductions
        tier_tables = {t.name.name: t for t in self.c.tiers}
        used_tiers: list[str] = []
        for clause in p.clauses:
            ref = self.clause_ref(clause)
            vat_rule = next((r for r in clause.rules if isinstance(r, ast.Vat)), None)
            vat = vat_rule.percent / 100 if vat_rule else None
            included = bool(vat_rule and vat_rule.included)
            reverse = bool(vat_rule and vat_rule.reverse_charge)
            line_round = next(
                (r for r in clause.rules if isinstance(r, ast.Round) and r.point in {None, "line"}), None
            )
            for rule in clause.rules:
                if isinstance(rule, ast.Charge | ast.Pay):
                    for node in _exprs(rule.amount):
                        if isinstance(node, ast.TableRate) and node.table.name not in used_tables:
                            used_tables.append(node.table.name)
                        if isinstance(node, ast.TierRef) and node.table.name not in used_tiers:
                            used_tiers.append(node.table.name)
                if isinstance(rule, ast.Charge):
                    charges.append(
                        ir.ChargePlan(
                            ref,
                            rule.span,
                            _text(self.lines, rule.span),
                            self.rate(rule, clause),
                            vat,
                            vat_included=included,
                            reverse_charge=reverse,
                        )
                    )
                elif isinstance(rule, ast.Commit):
                    commitments.append(
                        ir.CommitPlan(
                            clause=ref,
                            span=rule.span,
                            text=_text(self.lines, rule.span),
                            amount=rule.amount.amount,
                            currency=rule.amount.currency,
                            clauses=tuple(label for label, _ in rule.clauses),
                            prorated=rule.prorated,
                            vat_rate=vat,
                            reverse_charge=reverse,
                            line_rounding=self.rounding_or_default(line_round),
                        )
                    )
                elif isinstance(rule, ast.Distribute):
                    waterfalls.append(self.waterfall(rule, ref, tier_tables))
                elif isinstance(rule, ast.Withhold):
                    withholdings.append(ir.WithholdPlan(rule.party.name, rule.percent / 100, ref, rule.span))
                elif isinstance(rule, ast.Discount):
                    discounts.append(
                        ir.DiscountPlan(
                            clause=ref,
                            span=rule.span,
                            text=_text(self.lines, rule.span),
                            fraction=rule.percent / 100 if rule.percent is not None else None,
                            amount=rule.money.amount if rule.money else None,
                            clauses=tuple(label for label, _ in rule.clauses),
                            line_rounding=self.rounding_or_default(line_round),
                            invoice=rule.invoice,
                        )
                    )
                elif isinstance(rule, ast.Split):
                    splits.append(
                        ir.SplitPlan(
                            clause=ref,
                            span=rule.span,
                            base=rule.base,
                            shares=_split_weights(rule),
                            residual=rule.residual.name if rule.residual else None,
                            # percentages print from their weights, as they always have
                            written=()
                            if all(share.written.endswith("%") for share in rule.shares)
                            else tuple(share.written for share in rule.shares),
                        )
                    )
                elif isinstance(rule, ast.Pay):
                    billed_share = any(isinstance(e, ast.Share) and e.billed for e in _exprs(rule.amount))
                    (billed if billed_share else payouts).append(
                        ir.PayoutPlan(
                            rule.party.name,
                            ref,
                            rule.span,
                            _text(self.lines, rule.span),
                            self.rate(rule, clause),
                        )
                    )
        subscription = p.subscription[0] if p.subscription else None
        measured = units.canonical(p.measured[0][0], self.units_declared) if p.measured else None
        answered = (
            self.pred(p.answered[0])
            if p.answered
            else ir.Pred("gt", "quantity", ("0",), True, text="quantity > 0")
        )
        return ir.ProductPlan(
            name=p.name.name,
            title=p.title or p.name.name,
            span=p.span,
            matches=self.pred(p.matches[0]),
            kind="subscription" if subscription else "usage",
            measure="month" if subscription else (measured or "event"),
            reads_quantity=measured is not None,
            answered=answered,
            starts=self.pred(subscription.starts) if subscription else None,
            ends=self.pred(subscription.ends) if subscription else None,
            charges=tuple(charges),
            payouts=tuple(payouts),
            # a conversion is the contract's: it applies to every payout of its party, in any product
            conversions=self.conversions(),
            tables=tuple(self.table(self.tables[t]) for t in used_tables),
            tiers=tuple(self.tier(tier_tables[t]) for t in used_tiers),
            commitments=tuple(commitments),
            waterfalls=tuple(waterfalls),
            withholdings=tuple(withholdings),
            discounts=tuple(discounts),
            splits=tuple(splits),
            components=tuple((name.name, money.amount) for name, money in p.components),
            refunds=bool(p.refunds),
            refund_field=p.refunds[0].field.name if p.refunds and p.refunds[0].field else None,
            billed=tuple(billed),
            split_at_changes=bool(self.c.split_changes)
            and not subscription
            and measured is not None
            and units.dimension(measured) == "time",
            bands=self.time_bands() if any(cl.band for cl in p.clauses) else None,
        )

    def time_bands(self) -> ir.TimeBandsPlan:
        tb = self.c.time_bands[0]
        week = bands.week_of(tb)
        holiday = next((b.name.name for b in tb.bands if b.on_holidays), None)
        return ir.TimeBandsPlan(
            tb.zone,
            tuple(ir.TimeBandPlan(b.name.name, b.label or b.name.name, week[b.name.name]) for b in tb.bands),
            tuple(sorted({day for day, _ in tb.holidays})) if holiday else (),
            holiday,
        )

    def sha256(self) -> str:
        """The contract file's hash; with amendments or imports, a hash of every file's hash."""
        files = sorted({self.c.file} | self.files())
        digests = [
            hashlib.sha256(self.source[f].text.encode("utf-8")).hexdigest() for f in files if f in self.source
        ]
        if len(digests) == 1:
            return digests[0]
        return hashlib.sha256(
            "".join(f"{f}\0{d}\n" for f, d in zip(files, digests, strict=True)).encode()
        ).hexdigest()

    def files(self) -> set[str]:
        found = {p.span.file for p in self.c.parties} | {t.span.file for t in self.c.tables}
        found |= {t.span.file for t in self.c.tiers} | {e.span.file for e in self.c.effective}
        found |= {cl.span.file for p in self.c.products for cl in p.clauses}
        return found

    def lower(self) -> ir.ContractPlan:
        c = self.c
        settle = c.settle[0]
        tz = settle.time_zone[0] if settle.time_zone else c.time_zones[0][0]
        fields = dict(IMPLICIT_FIELDS)
        fields.update({f.name.name: f.type for f in c.fields})
        labels = {f.name.name: tuple((lang, text) for lang, text, _ in f.labels) for f in c.fields}
        parties = tuple(
            ir.PartyPlan(
                p.name.name,
                p.role,
                p.title,
                p.currency or self.currency,
                p.country,
                p.language,
                _details(c, p),
            )
            for p in c.parties
        )
        return ir.ContractPlan(
            schema=ir.PLAN_SCHEMA,
            id=c.id,
            version=c.versions[0][0],
            title=c.title or c.id,
            file=c.file,
            sha256=self.sha256(),
            effective_from=c.effective[0].start,
            effective_until=c.effective[0].until,
            period=settle.period,
            currency=self.currency,
            time_zone=tz,
            parties=parties,
            fields=tuple(ir.FieldPlan(k, v, labels.get(k, ())) for k, v in sorted(fields.items())),
            products=tuple(self.product(p) for p in c.products),
            sources=tuple(sorted({c.file} | self.files())),
            number_formats=tuple(sorted((f.series, f.format) for f in c.numbering)),
            late_periods=c.late_usage[0][0] if c.late_usage else None,
            units_of_account=tuple(
                ir.UnitOfAccountPlan(u.code, u.name, u.digits, u.fixing, u.span) for u in c.units_of_account
            ),
        )


def lower_contract(contract: ast.Contract, sources: dict[str, SourceFile]) -> ir.ContractPlan:
    """Build the plan of a contract that passed `check_contract` without errors.

    `sources` maps file names to their text: a contract's clauses may come from
    amendments and its tables from imported libraries.
    """
    return _Lowerer(contract, sources).lower()
