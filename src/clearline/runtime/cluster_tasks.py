"""The tasks of a cluster run, as a Dask worker runs them (runtime.cluster submits
them and reduces their results on the client).

Input: a `RunContext` (the plans' JSON and what configures the engine, sent to
each worker once) and a partition (runtime.inputs.partitions). Output, per
task: the partitions of the usage files (`plan_task`), the duplicate
candidates (`candidates_task`), where each remembered id is first read in a
partition (`first_reads_task`), or a partition rated (`rate_task`): its exact,
mergeable sums and its rated rows rendered as the run folder's CSV and JSON
Lines bytes, batch by batch. An input error comes back as a `Failure` (the
client raises the earliest partition's, as one process would meet it).

A worker decodes the plans once per run and keeps its engines between tasks
(`Engine.restart`): a partition is rated from nothing read, as by a new engine,
but the memo of prices and the rate tables' look-ups stay warm, so small
partitions cost no more than large ones. A task holds one partition's rated
rows at a time; the client bounds the tasks in flight (runtime.cluster).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import localcontext
from pathlib import Path
from typing import Any

from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.runtime.inputs.duplicates import duplicate_candidates
from clearline.runtime.inputs.locations import as_input
from clearline.runtime.inputs.partitions import Partition, plan_partitions
from clearline.runtime.inputs.readers import fewer_collections
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.parallel import (
    Seen,
    _first_reads,
    _Outcome,
    _PartFailed,
    _Share,
    rate_partition,
)
from clearline.runtime.rating.accounts import Conversion
from clearline.runtime.rating.accumulate import RatedRows
from clearline.runtime.rating.engine import Accumulated, Engine
from clearline.runtime.store.parquet_parts import write_parquet
from clearline.runtime.store.run_folder import RatedText

__all__ = [
    "PARTITION_TARGET",
    "Failure",
    "Rated",
    "RunContext",
    "candidates_task",
    "first_reads_task",
    "plan_task",
    "rate_task",
]

PARTITION_TARGET = 8 << 20  # bytes of a usage file per partition, whatever the file's size

# (partition number, path, message, hint): an input error met in a partition
Failure = tuple[int, str, str, str | None]


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every task needs, sent to each worker once (every field pickles)."""

    key: str  # the plans' hash: a worker decodes them once per run
    token: str  # this engine configuration's (a new one when the candidates change)
    plans: list[dict[str, Any]]  # the plans' JSON (compiler.ir.to_json)
    period: str
    customers: dict[str, Customer] | None
    candidates: set[str] | frozenset[str] | None
    batch_size: int
    route: bool
    parquet: str | None = None  # the folder of the rated records' Parquet parts, if any
    settled: dict[str, str] | None = None  # ids a closed period settled (the ledger's) -> where
    refunds: dict[str, str] | None = None  # refund record id -> why not ("" if fine); the ledger's
    too_late: dict[str, str] | None = None  # closed periods past their late-usage window -> why
    conversions: dict[str, dict[str, Conversion]] | None = None  # units of account, per version
    check_order: bool = False  # rating tasks note whether their record ids increase


@dataclass(slots=True)
class Rated:
    """One partition rated: its exact sums and its rated rows, rendered, per batch."""

    acc: Accumulated
    batches: list[tuple[int, bytes, bytes]]  # (rows, CSV bytes, JSON Lines bytes)
    order: tuple[bool, str | None, str | None] = (True, None, None)  # parallel._Outcome.order


_decoded: dict[str, list[ir.ContractPlan]] = {}  # a worker's plans, by their hash, decoded once
# idle engines (with their renderers) per context token, the last two runs' at most
_engines: OrderedDict[str, list[tuple[Engine, RatedText]]] = OrderedDict()
_KEEP = 2


def _plans(context: RunContext) -> list[ir.ContractPlan]:
    key = context.key
    if key not in _decoded:
        _decoded.clear()
        _decoded[key] = [ir.from_json(p) for p in context.plans]
    return _decoded[key]


@contextmanager
def _engine(context: RunContext) -> Iterator[tuple[Engine, RatedText]]:
    """An engine of this context with nothing read: an idle one restarted, or a new
    one. It goes back to the idle ones when the task is done with it, unless the
    task failed (a new engine is the safe start after an error)."""
    pool = _engines.get(context.token)
    if pool is None:
        pool = _engines[context.token] = []
        while len(_engines) > _KEEP:
            _engines.popitem(last=False)
    try:
        engine, text = pool.pop()
        engine.restart()
    except IndexError:
        engine = Engine(
            _plans(context),
            context.period,
            context.customers,
            context.candidates,
            route=context.route,
            settled=context.settled,
            refunds=context.refunds,
            too_late=context.too_late,
            conversions=context.conversions,
        )
        text = RatedText()
    yield engine, text
    pool.append((engine, text))


def _no_progress(_: int) -> None:
    pass


def _failure(failed: _PartFailed) -> Failure:
    err = failed.error
    return (failed.number, err.path, err.message, err.hint)


def plan_task(usage: list[str], target: int | None, route: bool) -> list[Partition]:
    """The partitions of the usage files, in read order, of about `target` bytes
    (PARTITION_TARGET by default). JSON Lines files are cut only when no record is
    routed (see runtime.inputs.partitions)."""
    size = target or PARTITION_TARGET
    return [part for path in usage for part in plan_partitions(as_input(path), size, json_lines=not route)]


def candidates_task(usage: list[str]) -> set[str] | None:
    return duplicate_candidates([as_input(u) for u in usage])


def first_reads_task(context: RunContext, number: int, part: Partition) -> Seen | Failure:
    share = _Share(
        _plans(context),
        context.period,
        context.customers,
        context.candidates,
        [(number, part)],
        context.batch_size,
        number,
        None,
        context.route,
        conversions=context.conversions,
    )
    try:
        return _first_reads(share, _no_progress)[number]
    except _PartFailed as failed:
        return _failure(failed)


def rate_task(context: RunContext, number: int, part: Partition, seen: Seen) -> Rated | Failure:
    """Partition `number` rated, the remembered ids of `seen` read before it."""
    batches: list[tuple[int, bytes, bytes]] = []
    with localcontext(CONTEXT), fewer_collections(), _engine(context) as (engine, text):
        order = _Outcome(engine.acc) if context.check_order else None

        def write(_: int, __: int, rows: RatedRows) -> None:
            csv_text, json_text = text.render(rows)
            batches.append((len(rows), csv_text.encode(), json_text.encode()))

        try:
            rate_partition(
                engine, number, part, part.path, context.batch_size, seen, write, order, _no_progress
            )
        except _PartFailed as failed:
            return _failure(failed)
        rated = Rated(engine.acc, batches, order.order if order is not None else (True, None, None))
    if context.parquet is not None:
        write_parquet(Path(context.parquet) / f"part-{number:05d}.parquet", [b[2] for b in batches])
    return rated
