"""Clearline: a contract language and compiler for telecom partner settlement.

The facade exposes every stage, so a test or a user can stop after any one:

    source = read_source("contracts/streamplus.contract")
    contract = parse(source)             # text -> AST (syntax diagnostics)
    diagnostics = check(contract)        # AST -> errors and warnings
    contract_plan = plan(source)         # parse + check + lower -> ContractPlan
    result = run([contract_plan], ["usage.csv"], "2026-03", out="out/")

Every function raises `ClearlineError` (carrying diagnostics) for bad input;
nothing else escapes for a problem with a contract or an input file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date as _date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.loading import MAX_CONTRACT_BYTES, check, load_plans, parse, plan, read_source
from clearline.parties import Customer, unidentified_reverse_charge
from clearline.version import __version__ as __version__

# The runtime (engine, readers, workers, run folder) is imported by `run`, when a
# period is settled: `clearline validate` and the other authoring commands start
# without it (tests/test_first_hour.py checks the import graph).
if TYPE_CHECKING:
    from clearline.runtime.dask_client import Cluster
    from clearline.runtime.inputs.readers import InputError
    from clearline.runtime.rating.accumulate import Accumulated
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.settlement.prior import Prior
    from clearline.runtime.settlement.settle import Settlement
    from clearline.runtime.store.run_folder import RunWriter

__all__ = [
    "MAX_CONTRACT_BYTES",
    "OUT_OF_PERIOD",
    "ClearlineError",
    "Diagnostic",
    "Prior",
    "Settlement",
    "check",
    "connect_cluster",
    "engine_paths",
    "load_plans",
    "parse",
    "plan",
    "plans_hash",
    "read_source",
    "run",
]


OUT_OF_PERIOD = ("reject", "route")  # what a run does with a record of another period
ENGINES = ("reference", "columnar")  # how one process rates (runtime.rating.columnar)


def plans_hash(plans: Sequence[ir.ContractPlan]) -> str:
    data = [ir.to_json(p) for p in sorted(plans, key=lambda p: p.id)]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _input_error(err: InputError) -> ClearlineError:
    return ClearlineError([Diagnostic(err.code or codes.UNREADABLE_INPUT, err.message, None, err.hint)])


def _check_over_periods(plans: list[ir.ContractPlan], period: str, prior: Prior | None) -> None:
    """Tiers over the year need the ledger's earlier periods, except in the first one."""
    from clearline.periods import period_bounds

    for contract_plan in plans:
        over = sorted({t.name for p in contract_plan.products for t in p.tiers if t.over})
        if not over or prior is not None:
            continue
        spans = {t.over for p in contract_plan.products for t in p.tiers if t.over}
        bounds = period_bounds(period, contract_plan.period, contract_plan.time_zone)
        first_of_year = bounds.first_day <= _date(bounds.first_day.year, 1, 1) < bounds.end_day
        starts = bounds.first_day.isoformat() <= contract_plan.effective_from < bounds.end_day.isoformat()
        if not (starts or (first_of_year and "lifetime" not in spans)):
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.BAD_OPTION,
                        f"contract {contract_plan.id}: tiers {', '.join(over)} run over the year, so "
                        f"{period} needs the earlier periods, which only the ledger holds",
                        None,
                        "settle with --ledger URL",
                    )
                ]
            )


def _merge_prior(engine: Engine, prior: Prior | None, plans: list[ir.ContractPlan]) -> Accumulated | None:
    """Merge a closed period's partial sums into the engine; return the engine's own
    (the late records') sums from before, or None without a closed period."""
    from clearline.runtime.rating.accumulate import Accumulated
    from clearline.runtime.store import partials

    if prior is None or not prior.base:
        return None
    late = Accumulated(lines=copy.deepcopy(engine.acc.lines), events=copy.deepcopy(engine.acc.events))
    engine.acc.merge(partials.load(prior.base, plans))
    return late


def _writer(out: Path, force: bool, route: bool) -> RunWriter:
    from clearline.runtime.store.folder import FolderInUse, FolderNotARun
    from clearline.runtime.store.run_folder import RunWriter

    try:
        return RunWriter(out, force, route=route)
    except FolderInUse as err:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.RUN_FOLDER_IN_USE, str(err), None, "wait for it to end, or write to another --out"
                )
            ]
        ) from None
    except FolderNotARun as err:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.NOT_A_RUN_FOLDER,
                    f"{err}; a run would overwrite or delete them",
                    None,
                    "give --out a new or empty folder, or pass --force to write into this one",
                )
            ]
        ) from None


def run(
    plans: Sequence[ir.ContractPlan],
    usage: Sequence[str | Path],
    period: str,
    *,
    fx: str | Path | None = None,
    customers: str | Path | None = None,
    out: str | Path | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    out_of_period: str = "reject",
    force: bool = False,
    pack: bool = False,
    names: dict[str, str] | None = None,
    prior: Prior | None = None,
    cluster: Cluster | None = None,
    partition_progress: Callable[[int, int], None] | None = None,
    partition_bytes: int | None = None,
    rated_parquet: str | Path | None = None,
    engine: str = "reference",
) -> Settlement:
    """Settle `period` over the usage files; write the run folder if `out`.

    `progress` is called with the number of records read after each batch.
    `workers` > 1 rates in that many processes (`runtime.parallel`); the
    result and every file are the same whatever the number.
    `out_of_period`: "reject" a record of another period, or "route" it to
    the run folder's `routed-PERIOD.jsonl`, a usage file for that period's run.
    `batch_size`: records per batch (default `runtime.inputs.readers.BATCH_SIZE`).
    `force` writes into an `out` folder that holds other files than a run's;
    `pack` copies the inputs into the run folder (`inputs/sha256/...`).
    `names` maps an input's path to the name rejects and traces give it
    (`verify` reads packed copies under the names the run gave them).
    `prior`: what the ledger knows (`runtime.settlement.prior`): record ids it
    settled are rejected as duplicates naming where; a closed period is
    settled as a whole (its partial sums and these records) into adjustment
    lines. It is written to the run folder, which `verify` reads it back from.
    `cluster` (runtime.dask_client.connect) rates on a Dask cluster instead, whose
    workers read the usage files by their paths; the run folder is the same.
    `partition_progress(done, total)` is called after each partition it rates;
    `partition_bytes` sets the partitions' size (default: 8 MiB, whatever the files' size);
    `rated_parquet`, a folder every worker can write to, gets the rated records
    as Parquet, one file per partition, written by the workers.
    `engine`: "reference" (the engine's record paths) or "columnar" (polars reads
    plain CSV files in blocks of columns and ordinary records are rated a block at a
    time; runtime.rating.columnar), with `workers` too (each rates its partitions by
    columns): the run folder is the same, byte for byte.
    """
    from decimal import localcontext

    from clearline.money import CONTEXT
    from clearline.parties import CUSTOMERS_FILE, customers_json
    from clearline.periods import period_bounds
    from clearline.runtime.inputs.duplicates import duplicate_candidates
    from clearline.runtime.inputs.locations import as_input, is_url
    from clearline.runtime.inputs.readers import BATCH_SIZE, InputError, fewer_collections
    from clearline.runtime.inputs.refdata import read_customers, read_fx
    from clearline.runtime.inputs.usage import read_usage
    from clearline.runtime.parallel import settle_in_workers
    from clearline.runtime.rating.accounts import conversions_for
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.settlement.prior import ADJUSTMENT_COLUMNS, PRIOR_FILE, adjustments
    from clearline.runtime.settlement.settle import finish

    if batch_size is None:
        batch_size = BATCH_SIZE
    if rated_parquet is not None and cluster is None:
        raise ValueError("rated_parquet is written by a cluster's workers: it needs cluster")
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "columnar" and cluster is not None:
        raise ValueError("the columnar engine runs on this machine: no cluster")
    columnar = engine == "columnar"
    if columnar and any(is_url(str(u)) for u in usage):
        raise ClearlineError(
            [
                Diagnostic(
                    codes.BAD_OPTION,
                    "--engine columnar reads local files; "
                    f"{next(str(u) for u in usage if is_url(str(u)))} is a URL",
                    None,
                    "settle URLs without --engine (one process reads them through fsspec) "
                    "or with --engine dask",
                )
            ]
        )
    if out_of_period not in OUT_OF_PERIOD:
        raise ValueError(f"out_of_period must be one of {', '.join(OUT_OF_PERIOD)}, not {out_of_period!r}")
    plan_list = list(plans)
    for p in plan_list:
        try:
            period_bounds(period, p.period, p.time_zone)
        except ValueError as err:
            raise ClearlineError(
                [
                    Diagnostic(
                        codes.BAD_OPTION,
                        f"contract {p.id}: {err}",
                        None,
                        "pass --period in the contract's period form",
                    )
                ]
            ) from None
    try:
        label = (names or {}).get
        fx_table = read_fx(Path(fx)) if fx else None
        if fx_table is not None and fx is not None:
            fx_table = dataclasses.replace(fx_table, name=Path(label(str(fx), str(fx))).name)
        customer_table = read_customers(Path(customers)) if customers else None
    except InputError as err:
        raise _input_error(err) from None
    conversions = conversions_for(plan_list, period, fx_table)  # prices in units of account
    # A plan loaded from JSON may come without its contract file; the manifest
    # still names the contract and its hash from the plan.
    files = sorted({f for p in plan_list for f in (p.sources or (p.file,))})
    inputs: list[tuple[str, Path | str]] = [("contract", Path(f)) for f in files if Path(f).is_file()]
    inputs += [("usage", as_input(u)) for u in usage]
    inputs += [("fx", Path(fx))] if fx else []
    inputs += [("customers", Path(customers))] if customers else []
    if cluster is not None:
        from clearline.runtime import cluster as on_cluster  # Dask is imported only for a cluster
        from clearline.runtime import dask_client

        dask_client.check_reachable(cluster, [str(u) for u in usage])
        if rated_parquet is not None:
            dask_client.prepare_parquet(cluster, Path(rated_parquet))
    hashes: dict[str, str] | None = None
    writer = _writer(Path(out), force, route=out_of_period == "route") if out is not None else None
    try:
        with localcontext(CONTEXT), fewer_collections():
            # a pre-scan of the ids: memory for duplicate checks stays small (see the engine);
            # a cluster's rating tasks check instead that the ids increase (runtime.cluster)
            # the columnar engine in one process checks them as it rates (settle_files)
            candidates: set[str] | None = set()
            if cluster is None and columnar and workers > 1:  # the id column by polars, when it can
                from clearline.runtime.rating import columnar as by_columns

                candidates = by_columns.duplicate_candidates([Path(u) for u in usage])
            elif cluster is None and not columnar:
                candidates = duplicate_candidates([as_input(u) for u in usage])

            def new_engine(candidates: set[str] | None) -> Engine:
                return Engine(
                    plan_list,
                    period,
                    customer_table,
                    candidates,
                    route=out_of_period == "route",
                    settled=prior.settled if prior is not None else None,
                    refunds=prior.refund_check if prior is not None else None,
                    too_late=prior.too_late if prior is not None else None,
                    conversions=conversions,
                )

            rating = new_engine(candidates)
            try:
                if cluster is not None:
                    hashes = on_cluster.settle_on_cluster(
                        cluster,
                        rating,
                        [str(u) for u in usage],
                        batch_size,
                        writer,
                        partition_progress,
                        partition_bytes,
                        None if rated_parquet is None else Path(rated_parquet),
                    )
                elif workers > 1:
                    paths = [str(u) for u in usage]
                    labels = [label(u, u) for u in paths]
                    settle_in_workers(
                        rating, paths, batch_size, workers, writer, progress, labels, columnar=columnar
                    )
                elif columnar:
                    from clearline.runtime.rating.columnar import settle_files

                    paths = [str(u) for u in usage]
                    labels = [label(u, u) for u in paths]
                    rating = settle_files(
                        rating, new_engine, list(map(Path, paths)), labels, batch_size, writer, progress
                    )
                else:
                    for path in usage:
                        usage_file = read_usage(as_input(path), batch_size)
                        for batch in usage_file.batches:
                            rows = rating.feed(label(str(path), str(path)), usage_file.columns, batch)
                            if writer is not None:
                                writer.rated(rows)
                            if progress is not None:
                                progress(rating.acc.read)
            except InputError as err:
                raise _input_error(err) from None
            _check_over_periods(plan_list, period, prior)
            if prior is not None:
                rating.cumulative = {
                    lid: (Decimal(q), Decimal(n), Decimal(g)) for lid, (q, n, g) in prior.cumulative.items()
                }
            late = _merge_prior(rating, prior, plan_list)
            result = finish(rating, fx_table)
            extra: dict[str, object] = {"options": {"out_of_period": out_of_period}}
            if prior is not None:
                if late is not None:
                    result.partials = late  # the ledger keeps these records' sums, not the base again
                result.adjustments = adjustments(result.lines, prior, prior.reason)
                extra["ledger"] = {"prior": PRIOR_FILE, "resettles": prior.resettles}
                if writer is not None:
                    writer.text(PRIOR_FILE, prior.text())
                    if prior.resettles:
                        writer.table(
                            "adjustment_lines", ADJUSTMENT_COLUMNS, [a.row() for a in result.adjustments]
                        )
            if rated_parquet is not None:
                from clearline.runtime.store import parquet_parts

                parquet_parts.write_lifecycle_parquet(Path(rated_parquet), result)
                parquet_parts.write_traces_parquet(Path(rated_parquet), result.traces)
            if customer_table is not None:
                _refuse_unidentified_reverse_charge(result.lines, customer_table)
            if writer is not None and customer_table is not None:
                # the invoiced customers as read, so the documents render from the folder alone
                invoiced = [ln.party for ln in result.lines] + [a.party for a in result.adjustments]
                writer.text(CUSTOMERS_FILE, customers_json(customer_table, invoiced))
            if writer is not None:
                writer.finish(result, inputs, plans_hash(plan_list), extra, pack, hashes)
                writer = None
            return result
    finally:
        if writer is not None:
            writer.abort()


def _refuse_unidentified_reverse_charge(lines: Sequence[Any], customers: dict[str, Customer]) -> None:
    """E0908 at settlement: a reverse-charged invoice needs its customer's VAT id (art.
    226(4)); with a customers file that lacks it, nothing is written."""
    unidentified = unidentified_reverse_charge(lines, customers)
    if unidentified:
        raise ClearlineError(
            [
                Diagnostic(
                    codes.REVERSE_CHARGE_WITHOUT_VAT_ID,
                    f"the invoices to {', '.join(unidentified)} are reverse-charged, and the customers "
                    "file gives no VAT id for them (art. 226(4) of the VAT Directive asks for it)",
                    None,
                    "add the VAT ids in the customers file's `vat_id` column and settle again",
                )
            ]
        )


def engine_paths(contract_plan: ir.ContractPlan) -> str:
    """Which engine path rates each rule of the plan, and why: the reference engine's
    fast and per-record paths, then the columnar engine's (`clearline compile --paths`)."""
    from clearline.runtime.rating.columnar import format_columnar
    from clearline.runtime.rating.paths import format_paths

    return format_paths(contract_plan) + format_columnar(contract_plan)


def connect_cluster(scheduler: str) -> AbstractContextManager[Cluster]:
    """A client of a Dask scheduler (tcp://HOST:PORT, or local:N for a cluster of N
    workers here), for `run(..., cluster=...)`; a ClearlineError says what is wrong
    (no Dask, no scheduler, workers without this clearline) before any run folder exists."""
    from clearline.runtime.cluster import connect

    return connect(scheduler)


def __getattr__(name: str) -> object:
    """`clearline.Settlement` and `clearline.Prior`, imported with the runtime when first asked for."""
    if name == "Settlement":
        from clearline.runtime.settlement.settle import Settlement

        return Settlement
    if name == "Prior":
        from clearline.runtime.settlement.prior import Prior

        return Prior
    raise AttributeError(f"module 'clearline' has no attribute {name!r}")
