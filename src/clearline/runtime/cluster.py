"""Settling on a Dask cluster: the same run, byte for byte, as one process.

Input: a connected cluster (runtime.dask_client.connect), an engine (plans,
period, customers), the usage files' paths and a batch size. Output: the
engine's `Accumulated` state and the rated rows, in read order, in the run
writer; the usage files' SHA-256 for the manifest.

The client never reads the usage files: the workers plan the partitions
(runtime.inputs.partitions), scan the ids for duplicate candidates, hash the
files and read their partitions themselves, so every input must be reachable
by the same path from every worker (a shared filesystem), which is checked
first. The plans travel as their JSON (compiler.ir; no grammar on the
workers). Map and reduce are the local workers' own (runtime.parallel): one
task per partition runs `_first_reads` (where each remembered id is first
read in it) and then `_rate_share` (the rated rows, rendered, and the
mergeable `Accumulated`); the client gives each partition the first readings
of the partitions before it and merges the partitions' results in partition
order. Duplicates: the rating tasks first run remembering no id, each noting
whether its record ids increase; while they increase through the partitions
in read order no id is read twice, and those partitions are kept. From the
first partition where they do not, the duplicate candidates are scanned, the
first pass runs, and the rest is rated again. A worker lost mid-run is Dask's
to handle: it runs the lost tasks again elsewhere, and a task's result does not
depend on where it ran.

With a Parquet folder, each rating task also writes its partition's rated
records there as Parquet (runtime.store.parquet_parts). `distributed` is an
optional dependency (the `cluster` extra), imported only when a run starts.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clearline import codes
from clearline.compiler import ir
from clearline.runtime.dask_client import Cluster, cluster_error, connect
from clearline.runtime.inputs.duplicates import duplicate_candidates
from clearline.runtime.inputs.partitions import Partition, plan_partitions
from clearline.runtime.inputs.readers import InputError
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.parallel import (
    Seen,
    _first_reads,
    _part,
    _PartFailed,
    _rate_share,
    _seen_before,
    _Share,
    partitions_for,
)
from clearline.runtime.rating.accounts import Conversion
from clearline.runtime.rating.engine import Accumulated, Engine
from clearline.runtime.store.parquet_parts import write_parquet
from clearline.runtime.store.run_folder import RunWriter, sha256_file

__all__ = ["Cluster", "connect", "settle_on_cluster"]

# (partition number, path, message, hint): an input error met in a partition
Failure = tuple[int, str, str, str | None]


@dataclass(frozen=True, slots=True)
class _Context:
    """What every task needs, sent to each worker once (every field pickles)."""

    key: str  # the plans' hash: a worker decodes them once per run
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


_decoded: dict[str, list[ir.ContractPlan]] = {}  # a worker's plans, by their hash, decoded once


def _share(context: _Context, number: int, part: Partition, folder: str | None, seen: Seen) -> _Share:
    key = context.key
    if key not in _decoded:
        _decoded.clear()
        _decoded[key] = [ir.from_json(p) for p in context.plans]
    return _Share(
        _decoded[key],
        context.period,
        context.customers,
        context.candidates,
        [(number, part)],
        context.batch_size,
        number,
        folder,
        context.route,
        settled=context.settled,
        refunds=context.refunds,
        too_late=context.too_late,
        conversions=context.conversions,
        seen_before={number: seen},
        check_order=context.check_order,
    )


def _no_progress(_: int) -> None:
    pass


def _failure(failed: _PartFailed) -> Failure:
    err = failed.error
    return (failed.number, err.path, err.message, err.hint)


def _plan_task(usage: list[str], workers: int, target: int | None, route: bool) -> list[Partition]:
    if target is None:
        return partitions_for(usage, workers, route)
    return [part for path in usage for part in plan_partitions(Path(path), target, json_lines=not route)]


def _candidates_task(usage: list[str]) -> set[str] | None:
    return duplicate_candidates([Path(u) for u in usage])


def _first_reads_task(context: _Context, number: int, part: Partition) -> Seen | Failure:
    try:
        return _first_reads(_share(context, number, part, None, {}), _no_progress)[number]
    except _PartFailed as failed:
        return _failure(failed)


@dataclass(slots=True)
class _Rated:
    """One partition rated: its exact sums and its rated rows, rendered, per batch."""

    acc: Accumulated
    batches: list[tuple[int, bytes, bytes]]  # (rows, CSV bytes, JSON Lines bytes)
    order: tuple[bool, str | None, str | None] = (True, None, None)  # parallel._Outcome.order


def _rate_task(context: _Context, number: int, part: Partition, seen: Seen) -> _Rated | Failure:
    with tempfile.TemporaryDirectory(prefix="clearline-part-") as folder:
        try:
            outcome = _rate_share(_share(context, number, part, folder, seen), _no_progress)
        except _PartFailed as failed:
            return _failure(failed)
        rated = _Rated(outcome.acc, [], outcome.order)
        with (
            _part(folder, number, "csv").open("rb") as csv_part,
            _part(folder, number, "jsonl").open("rb") as json_part,
        ):
            for _, rows, csv_size, json_size in outcome.sizes:
                rated.batches.append((rows, csv_part.read(csv_size), json_part.read(json_size)))
    if context.parquet is not None:
        write_parquet(Path(context.parquet) / f"part-{number:05d}.parquet", [b[2] for b in rated.batches])
    return rated


def settle_on_cluster(
    cluster: Cluster,
    engine: Engine,
    usage: Sequence[str],
    batch_size: int,
    writer: RunWriter | None,
    progress: Callable[[int, int], None] | None = None,
    partition_bytes: int | None = None,
    parquet: Path | None = None,
) -> dict[str, str]:
    """Rate the usage files on the cluster into `engine.acc`, the rated rows in read
    order into `writer`; `progress(done, total)` after each partition rated.
    Returns each usage file's SHA-256, hashed on the workers. A scheduler lost
    mid-run, or a partition whose task stopped workers again and again (Dask's
    KilledWorker: out of memory, say), is E0508."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    try:
        return _settle(cluster, engine, usage, batch_size, writer, progress, partition_bytes, parquet)
    except (CommClosedError, FutureCancelledError) as err:
        raise cluster_error(
            codes.CLUSTER_UNAVAILABLE,
            f"lost the Dask scheduler during the run ({type(err).__name__}: {err})",
            "check the scheduler and settle again: the run folder was not written",
        ) from None
    except KilledWorker as err:
        raise cluster_error(
            codes.CLUSTER_UNAVAILABLE,
            f"a partition's task stopped every worker that ran it: {err}",
            "a worker may run out of memory: give workers more (dask worker --memory-limit), "
            "or make partitions smaller (--partition-bytes)",
        ) from None


def _settle(
    cluster: Cluster,
    engine: Engine,
    usage: Sequence[str],
    batch_size: int,
    writer: RunWriter | None,
    progress: Callable[[int, int], None] | None,
    partition_bytes: int | None,
    parquet: Path | None,
) -> dict[str, str]:
    client = cluster.client
    paths = list(usage)
    # keyed as the manifest names the inputs (str of a Path: "a/./b.csv" is "a/b.csv")
    hashes = {str(Path(path)): client.submit(sha256_file, Path(path), pure=False) for path in paths}
    parts = list(
        enumerate(
            client.submit(
                _plan_task, paths, cluster.workers, partition_bytes, engine.route, pure=False
            ).result()
        )
    )
    plans = [ir.to_json(p) for p in engine.plans]
    context = _Context(
        hashlib.sha256(json.dumps(plans, sort_keys=True).encode()).hexdigest(),
        plans,
        engine.period_label,
        engine.customers,
        engine.candidates,
        batch_size,
        engine.route,
        None if parquet is None else str(parquet),
        engine.settled or None,
        engine.refunds,
        engine.too_late or None,
        engine.conversions or None,
    )
    # Optimistic first: rate every partition at once, remembering no id (but the
    # ledger's), each task noting whether its ids increase. While they do through the
    # partitions in read order, no id is read twice and the partitions are exact as
    # rated (the common case of switch-numbered records: every file read once).
    [shared] = client.scatter([replace(context, check_order=True)], broadcast=True, hash=False)
    start = _rate_in_order(client, engine, shared, parts, [{} for _ in parts], writer, progress, True)
    if start < len(parts):
        # Ids out of order from partition `start` on: the candidates (a scan of the id
        # columns), the first pass over every partition, and the rating of the rest.
        candidates = client.submit(_candidates_task, paths, pure=False).result()
        engine.candidates = None if candidates is None else frozenset(candidates).union(engine.settled)
        context = replace(context, candidates=engine.candidates)
        [shared] = client.scatter([context], broadcast=True, hash=False)
        seen: list[Seen] = [{} for _ in parts]
        if engine.candidates is None or engine.candidates:  # some ids are remembered
            first = client.gather(
                [client.submit(_first_reads_task, shared, n, p, pure=False) for n, p in parts]
            )
            _raise_earliest([f for f in first if isinstance(f, tuple)])
            seen = _seen_before([f for f in first if isinstance(f, dict)])
        _rate_in_order(client, engine, shared, parts[start:], seen, writer, progress, False, len(parts))
    return {path: str(future.result()) for path, future in hashes.items()}


def _rate_in_order(
    client: Any,
    engine: Engine,
    shared: Any,
    parts: list[tuple[int, Partition]],
    seen: list[Seen],
    writer: RunWriter | None,
    progress: Callable[[int, int], None] | None,
    optimistic: bool,
    total: int | None = None,
) -> int:
    """Rate `parts` and reduce them in read order; returns the number of the first
    partition not reduced: with `optimistic`, the first whose record ids do not
    increase after those before it (its rating and the later ones' are dropped),
    else the end. Raises the earliest input error (the one of one process: input
    errors do not depend on the ids remembered)."""
    from distributed import as_completed

    total = total if total is not None else len(parts)
    futures = [client.submit(_rate_task, shared, n, p, seen[n], pure=False) for n, p in parts]
    number = {future.key: n for future, (n, _) in zip(futures, parts, strict=True)}
    done: dict[int, _Rated] = {}
    failures: list[Failure] = []
    written = parts[0][0] if parts else 0
    end = written + len(parts)
    last: str | None = None  # the last record id reduced, optimistically
    stopped = False
    # Every task is waited for, after a stop too: a task left running could write its
    # Parquet part after the partition's rating again.
    for future in as_completed(futures, loop=client.loop):
        result = future.result()
        if isinstance(result, tuple):
            failures.append(result)
        else:
            done[number[future.key]] = result
        while not failures and not stopped and written in done:  # the next partition in read order
            rated = done[written]
            if optimistic:
                increasing, first_id, last_id = rated.order
                if not increasing or (first_id is not None and last is not None and not last < first_id):
                    stopped = True
                    break
                last = last_id if last_id is not None else last
            _reduce(engine, written, done.pop(written), writer)
            written += 1
            if progress is not None:
                progress(written, total)
    _raise_earliest(failures)
    return written if stopped else end


def _reduce(engine: Engine, number: int, rated: _Rated, writer: RunWriter | None) -> None:
    """Partition `number`'s result into the run, after those of partitions 0 to number - 1."""
    if number == 0:
        engine.acc = rated.acc
    else:
        engine.acc.merge(rated.acc)
    if writer is not None:
        for rows, csv_text, json_text in rated.batches:
            writer.rated_text(rows, csv_text, json_text)


def _raise_earliest(failures: list[Failure]) -> None:
    """The input error of the earliest partition: the one one process meets first."""
    if failures:
        _, path, message, hint = min(failures)
        raise InputError(path, message, hint)
