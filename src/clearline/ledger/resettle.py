"""What the ledger tells a run before it settles (`simulate --ledger`).

Input: an open `Ledger`, the run's plans, usage files and period. Output: a
`runtime.settlement.prior.Prior`: the record ids of the usage files that a
closed period settled (each rejected as a duplicate naming period, run and
document), and -- when the run's period is closed -- the period's exact
partial sums and every line issued for it, so the run settles the period
as a whole and emits adjustment lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from clearline import codes
from clearline.compiler import ir
from clearline.compiler.check_ledger import DEFAULT_LATE_PERIODS
from clearline.ledger.errors import LedgerError
from clearline.ledger.store import Ledger
from clearline.runtime.inputs.duplicates import scan_ids
from clearline.runtime.inputs.locations import as_input
from clearline.runtime.settlement.prior import Issued, Prior

__all__ = ["in_force", "prior_for"]


def in_force(plans: Sequence[ir.ContractPlan], period: str) -> list[str]:
    """The ids of the contracts with a version in force in the period."""
    from clearline.periods import period_bounds

    found = set()
    for plan in plans:
        bounds = period_bounds(period, plan.period, plan.time_zone)
        if (
            plan.effective_from < bounds.end_day.isoformat()
            and bounds.first_day.isoformat() < plan.effective_until
        ):
            found.add(plan.id)
    return sorted(found)


def _ids(usage: Sequence[str | Path]) -> set[str]:
    ids: set[str] = set()
    for path in usage:
        try:
            chunks = scan_ids(as_input(path))
            for chunk in chunks or ():
                ids.update(chunk)
        except Exception:  # unreadable: the run itself reports the file, with its diagnostic
            continue
    return ids


def _past_window(rows: Sequence[Any], plans: Sequence[ir.ContractPlan], cid: str, period: str) -> str | None:
    """Why the closed `period` of contract `cid` takes no more late records, or None while
    fewer of its later periods are closed than its late-usage window
    (`accept late usage for N periods`). `rows`: the ledger's closed periods."""
    # labels of one kind sort in time
    closed_after = sorted(r.period for r in rows if r.contract_id == cid and r.period > period)
    declared = [p.late_periods for p in plans if p.id == cid and p.late_periods is not None]
    window = max(declared) if declared else DEFAULT_LATE_PERIODS
    if len(closed_after) < window:
        return None
    clause = f"the default window of {window} period(s)"
    if declared:
        clause = f"accept late usage for {window} period(s)"
    return f"{cid} {period} is past its late-usage window ({clause}): {', '.join(closed_after)} closed since"


def _check_window(ledger: Ledger, plans: Sequence[ir.ContractPlan], shut: list[str], period: str) -> None:
    """A run of a closed period past its late-usage window is refused."""
    rows = ledger.periods()
    for cid in shut:
        why = _past_window(rows, plans, cid, period)
        if why is not None:
            raise LedgerError(
                codes.LATE_USAGE_TOO_LATE,
                why,
                "late records of so old a period are not settled; widen the window in a new version "
                "of the contract if the agreement allows it",
            )


def too_late(ledger: Ledger, plans: Sequence[ir.ContractPlan], period: str) -> dict[str, str]:
    """ "CONTRACT PERIOD" -> why, for each closed period of the run's contracts (other than
    the run's own) past its late-usage window: a record of one is a reject (E0839)."""
    ids = {p.id for p in plans}
    found: dict[str, str] = {}
    rows = ledger.periods()
    for row in rows:
        if row.contract_id in ids and row.period != period:
            why = _past_window(rows, plans, row.contract_id, row.period)
            if why is not None:
                found[f"{row.contract_id} {row.period}"] = why
    return found


def cumulative_for(ledger: Ledger, plans: Sequence[ir.ContractPlan], period: str) -> dict[str, list[str]]:
    """For tiers over the year (or lifetime): per line id, the quantity, net and gross its
    closed earlier periods (of the same year) add up to, from their exact partial sums."""
    spans: dict[str, set[str]] = {}
    for plan in plans:
        for product in plan.products:
            for tier in product.tiers:
                if tier.over:
                    spans.setdefault(plan.id, set()).add(tier.over)
    if not spans:
        return {}
    totals: dict[str, list[Decimal]] = {}
    for row in ledger.periods():
        kinds = spans.get(row.contract_id)
        if not kinds or not row.period < period:
            continue
        if "lifetime" not in kinds and row.period[:4] != period[:4]:
            continue
        for _, data_text in ledger.partials(row.contract_id, row.period):
            data = json.loads(data_text)
            if not isinstance(data, dict):
                continue  # a subscriber's events
            sums = totals.setdefault(data["line_id"], [Decimal(0), Decimal(0), Decimal(0)])
            sums[0] += Decimal(data["quantity"])
            sums[1] += Decimal(data["net_base"])
            sums[2] += Decimal(data["gross_base"])
    return {lid: [format(v, "f") for v in sums] for lid, sums in sorted(totals.items())}


def _refund_pairs(usage: Sequence[str | Path], names: set[str]) -> list[tuple[str, str]]:
    """(record id, refunded record id) of every record naming one, in read order."""
    from clearline.runtime.inputs.readers import BATCH_SIZE
    from clearline.runtime.inputs.usage import read_usage

    pairs: list[tuple[str, str]] = []
    for path in usage:
        try:
            usage_file = read_usage(as_input(path), BATCH_SIZE)
            for batch in usage_file.batches:
                index = {name: i for i, name in enumerate(usage_file.columns)}
                i_id = index.get("record_id")
                cols = [index[n] for n in sorted(names) if n in index]
                if i_id is None or not cols:
                    continue
                for _, row in batch:
                    rid = row[i_id] if i_id < len(row) else None
                    for col in cols:
                        refunded = row[col] if col < len(row) else None
                        if rid and refunded:
                            pairs.append((rid, refunded))
        except Exception:  # unreadable: the run itself reports the file
            continue
    return pairs


def refunds_for(
    ledger: Ledger, plans: Sequence[ir.ContractPlan], usage: Sequence[str | Path]
) -> tuple[dict[str, str], dict[str, str]]:
    """Refund record id -> the record it refunds, and -> "" when the ledger settled that
    record and nothing refunded it before (in the ledger, or earlier in this run), else why."""
    names = {p.refund_field for c in plans for p in c.products if p.refund_field}
    if not names:
        return {}, {}
    pairs = _refund_pairs(usage, names)
    targets = {refunded for _, refunded in pairs}
    settled = ledger.settled(targets)
    before = ledger.refunded(targets)
    first: dict[str, str] = {}
    refund_of: dict[str, str] = {}
    check: dict[str, str] = {}
    for rid, refunded in pairs:
        refund_of[rid] = refunded
        if refunded not in settled:
            check[rid] = f"refunds {refunded}, which no closed period settled"
        elif refunded in before:
            done = before[refunded]
            check[rid] = (
                f"refunds {refunded}, already refunded by {done.record_id} in {done.period}, "
                f"document {done.document}"
            )
        elif first.setdefault(refunded, rid) != rid:
            check[rid] = f"refunds {refunded}, already refunded by {first[refunded]} in this run"
        else:
            check[rid] = ""
    return refund_of, check


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _new_versions(
    ledger: Ledger, plans: Sequence[ir.ContractPlan], shut: list[str], period: str
) -> list[ir.ContractPlan]:
    """Versions in force in the period that are newer than the version it was closed under."""
    found = []
    for cid in shut:
        closed = ledger.closed_period(cid, period)
        assert closed is not None
        version = max(closed.contract_version, ledger.closed_version(cid, period) or 0)
        for plan in plans:
            if plan.id == cid and plan.version > version and plan.id in in_force([plan], period):
                found.append(plan)
    return sorted(found, key=lambda p: (p.id, p.version))


def rerate_inputs(ledger: Ledger, period: str) -> list[Path]:
    """The usage files the closes of `period` read (each must still be as it was read)."""
    import hashlib
    import json as json_

    files: list[Path] = []
    for close in ledger.closes():
        if close.period != period:
            continue
        manifest_path = Path(close.run_path) / "manifest.json"
        try:
            manifest = json_.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise LedgerError(
                codes.RUN_NOT_VERIFIED,
                f"cannot re-rate {period}: the run {close.run_path} of close {close.seq} is gone ({err})",
                "re-rating reads the closed records again from the runs' usage files",
            ) from None
        for item in manifest.get("inputs", []):
            if item.get("role") != "usage":
                continue
            path = Path(item["path"])
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = ""
            if digest != item.get("sha256"):
                raise LedgerError(
                    codes.RUN_NOT_VERIFIED,
                    f"cannot re-rate {period}: {path}, read by close {close.seq}, is missing or changed",
                    "restore the usage file the closed run read",
                )
            if path not in files:
                files.append(path)
    return files


def prior_for(
    ledger: Ledger,
    plans: Sequence[ir.ContractPlan],
    usage: Sequence[str | Path],
    period: str,
    rerate: bool = False,
) -> Prior:
    """The run's `Prior`; LedgerError if some of its contracts' period is closed and
    others' is not (settle them in separate runs), if a new version takes effect in a
    closed period and `rerate` is not asked (or asked of a period not closed)."""
    found = ledger.settled(_ids(usage))
    if rerate:  # the period's own records are rated again, not duplicates
        found = {rid: s for rid, s in found.items() if s.period != period}
    settled = {rid: s.describe() for rid, s in found.items()}
    cumulative = cumulative_for(ledger, plans, period)
    refund_of, refund_check = refunds_for(ledger, plans, usage)
    contracts = in_force(plans, period)
    closed = {cid: ledger.closed_period(cid, period) for cid in contracts}
    shut = sorted(cid for cid, c in closed.items() if c is not None)
    if not shut:
        if rerate:
            raise LedgerError(
                codes.RERATE_NEEDED,
                f"--rerate re-settles a closed period, and {period} is not closed",
                "settle the period without --rerate",
            )
        return Prior(
            period,
            settled,
            refund_of=refund_of,
            refund_check=refund_check,
            cumulative=cumulative,
            too_late=too_late(ledger, plans, period),
        )
    open_ = sorted(set(contracts) - set(shut))
    if open_:
        raise LedgerError(
            codes.PERIOD_ALREADY_CLOSED,
            f"{period} is closed for {', '.join(shut)} but not for {', '.join(open_)}",
            "settle the closed contracts' late records in a run of their own",
        )
    _check_window(ledger, plans, shut, period)
    newer = _new_versions(ledger, plans, shut, period)
    if newer and not rerate:
        first = newer[0]
        raise LedgerError(
            codes.RERATE_NEEDED,
            f"{first.id} version {first.version} takes effect inside the closed period {period} "
            f"(from {first.effective_from})",
            "re-rate the period with `--rerate`: its closed records are rated again under the "
            "versions now in force, into adjustment lines",
        )
    reason = "late usage"
    if rerate:
        reason = "re-rated: " + "; ".join(
            f"{p.id} version {p.version} from {p.effective_from}" for p in newer
        )
    base: list[tuple[str, str]] = []
    issued: list[Issued] = []
    for cid in shut:
        if not rerate:
            base += ledger.partials(cid, period)
        for ln in ledger.lines(cid, period):
            row = json.loads(ln.row)
            issued.append(
                Issued(
                    line_id=ln.adjusts or ln.line_id,
                    kind=ln.kind,
                    party=ln.party,
                    party_name=row.get("party_name", ""),
                    contract_id=ln.contract_id,
                    period=ln.period,
                    currency=ln.currency,
                    amount=Decimal(ln.amount),
                    vat_amount=_dec(row.get("vat_amount", "")),
                    gross_amount=_dec(row.get("gross_amount", "")),
                    paid_amount=_dec(row.get("paid_amount", "")),
                    paid_currency=row.get("paid_currency", ""),
                    document=row.get("document", "") if ln.adjusts else (ln.document or ""),
                )
            )
    # an `issue` close (pending adjustments issued) settles nothing: not a basis
    based_on = [(c.seq, c.hash) for c in ledger.closes() if c.period == period and c.kind != "issue"]
    return Prior(
        period,
        settled,
        base,
        issued,
        based_on,
        refund_of,
        refund_check,
        reason,
        rerate,
        cumulative,
        too_late(ledger, plans, period),
        closed=tuple(shut),
    )
