"""Settling on a Dask cluster: the same run, byte for byte, as one process.

Input: a connected cluster (runtime.dask_client.connect), an engine (plans,
period, customers), the usage files' paths and a batch size. Output: the
engine's `Accumulated` state and the rated rows, in read order, in the run
writer; the usage files' SHA-256 for the manifest.

The client never reads the usage files: the workers plan the partitions
(runtime.inputs.partitions; a task per file), scan the ids for duplicate
candidates, hash the files and read their partitions themselves
(runtime.cluster_tasks), so every input must be reachable by the same path
from every worker (a shared filesystem), which is checked first. The plans
travel as their JSON (compiler.ir; no grammar on the workers). One task per
partition rates it (the rated rows, rendered, and the mergeable
`Accumulated`); the client merges the partitions' results in partition order,
writing each partition's rows as soon as those before it are in, with a
bounded number of tasks in flight. Partitions are of a fixed size
(cluster_tasks.PARTITION_TARGET, or --partition-bytes), not a share of the
files: a worker's memory does not grow with the records.

Duplicates: the rating tasks first run remembering no id, each noting whether
its record ids increase; while they increase through the partitions in read
order no id is read twice, and those partitions are kept. From the first
partition where they do not, the duplicate candidates are scanned, a first
pass notes where each remembered id is first read in each partition, the
client gives each partition the first readings of the partitions before it,
and the rest is rated again. A worker lost mid-run is Dask's to handle: it
runs the lost tasks again elsewhere, and a task's result does not depend on
where it ran.

With a Parquet folder, each rating task also writes its partition's rated
records there as Parquet (runtime.store.parquet_parts). `distributed` is an
optional dependency (the `cluster` extra), imported only when a run starts.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearline import codes
from clearline.compiler import ir
from clearline.runtime.cluster_tasks import (
    Failure,
    Rated,
    RunContext,
    candidates_task,
    first_reads_task,
    plan_task,
    rate_task,
)
from clearline.runtime.dask_client import Cluster, cluster_error, connect
from clearline.runtime.inputs.locations import as_input
from clearline.runtime.inputs.partitions import Partition
from clearline.runtime.inputs.readers import InputError
from clearline.runtime.parallel import Seen, _seen_before
from clearline.runtime.rating.engine import Engine
from clearline.runtime.store.run_folder import RunWriter, sha256_file

__all__ = ["Cluster", "connect", "settle_on_cluster"]

AHEAD = 3  # rating tasks in flight per worker thread, at most: memory stays bounded


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
    # the planning first (the rating waits for it), a task per file; the hashing beside it
    planned = [client.submit(plan_task, [p], partition_bytes, engine.route, pure=False) for p in paths]
    # keyed as the manifest names the inputs (str of a Path: "a/./b.csv" is "a/b.csv")
    hashes = {str(as_input(p)): client.submit(sha256_file, as_input(p), pure=False) for p in paths}
    parts = list(enumerate(part for parts in client.gather(planned) for part in parts))
    plans = [ir.to_json(p) for p in engine.plans]
    context = RunContext(
        hashlib.sha256(json.dumps(plans, sort_keys=True).encode()).hexdigest(),
        uuid.uuid4().hex,
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
    window = AHEAD * max(1, cluster.workers)
    # Optimistic first: rate the partitions remembering no id (but the ledger's), each
    # task noting whether its ids increase. While they do through the partitions in
    # read order, no id is read twice and the partitions are exact as rated (the
    # common case of switch-numbered records: every file read once).
    [shared] = client.scatter([replace(context, check_order=True)], broadcast=True, hash=False)
    start = _rate_in_order(client, engine, shared, parts, {}, writer, progress, window, True)
    if start < len(parts):
        # Ids out of order from partition `start` on: the candidates (a scan of the id
        # columns), the first pass over every partition, and the rating of the rest.
        candidates = client.submit(candidates_task, paths, pure=False).result()
        engine.candidates = None if candidates is None else frozenset(candidates).union(engine.settled)
        context = replace(context, token=uuid.uuid4().hex, candidates=engine.candidates)
        [shared] = client.scatter([context], broadcast=True, hash=False)
        seen: dict[int, Seen] = {}
        if engine.candidates is None or engine.candidates:  # some ids are remembered
            first = client.gather(
                [client.submit(first_reads_task, shared, n, p, pure=False) for n, p in parts]
            )
            _raise_earliest([f for f in first if isinstance(f, tuple)])
            seen = dict(enumerate(_seen_before([f for f in first if isinstance(f, dict)])))
        rest = parts[start:]
        _rate_in_order(client, engine, shared, rest, seen, writer, progress, window, False, len(parts))
    return {path: str(future.result()) for path, future in hashes.items()}


def _rate_in_order(
    client: Any,
    engine: Engine,
    shared: Any,
    parts: list[tuple[int, Partition]],
    seen: dict[int, Seen],
    writer: RunWriter | None,
    progress: Callable[[int, int], None] | None,
    window: int,
    optimistic: bool,
    total: int | None = None,
) -> int:
    """Rate `parts` and reduce them in read order; returns the number of the first
    partition not reduced: with `optimistic`, the first whose record ids do not
    increase after those before it (its rating and the later ones' are dropped),
    else the end. Raises the earliest input error (the one of one process: input
    errors do not depend on the ids remembered).

    At most `window` partitions are submitted and not yet reduced: a worker holds
    the rated rows of the few tasks it ran that the client has not fetched, and the
    client those of the partitions rated before an earlier one (each future is let
    go once its result is in)."""
    from distributed import as_completed

    total = total if total is not None else len(parts)
    todo = deque(parts)
    number: dict[str, int] = {}
    done: dict[int, Rated] = {}
    failures: list[Failure] = []
    written = parts[0][0] if parts else 0
    end = written + len(parts)
    last: str | None = None  # the last record id reduced, optimistically
    stopped = False
    running = as_completed(loop=client.loop)

    def submit() -> None:
        while todo and not stopped and not failures and len(number) + len(done) < window:
            n, part = todo.popleft()
            future = client.submit(rate_task, shared, n, part, seen.get(n, {}), pure=False)
            number[future.key] = n
            running.add(future)

    submit()
    # Every task submitted is waited for, after a stop too: a task left running could
    # write its Parquet part after the partition's rating again.
    for future in running:
        n = number.pop(future.key)
        result = future.result()
        future.release()
        if isinstance(result, tuple):
            failures.append(result)
        else:
            done[n] = result
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
        submit()
    _raise_earliest(failures)
    return written if stopped else end


def _reduce(engine: Engine, number: int, rated: Rated, writer: RunWriter | None) -> None:
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
