"""Settling with worker processes: the same run, byte for byte, as one process.

Input: an engine (plans, period, customers, the duplicate candidates), the
usage files and a number of workers. Output: the engine's `Accumulated`
state and the rated rows, in read order, in the run writer.

Each usage file is cut into partitions at record boundaries
(runtime.inputs.partitions: CSV and JSON Lines byte ranges, Parquet row
groups; JSON Lines whole when records are routed), and each
worker reads only its partitions (every Nth), so each file is read once in
all. Duplicates (docs/scale.md): a record is "first read" where one process
would first read it. When some ids must be remembered (the candidates of the
pre-scan, or every id of a small input), a first pass has each worker note,
per partition, where each remembered id is first read (`Engine.admit`, of
the rows of candidates only); the parent gives each partition the first
readings of the partitions before it, and the second pass rates with those
ids already seen. When the ids increase, no id is remembered and the first
pass is skipped.

Each worker renders its rated rows into part files and notes each batch's
place (partition, batch) and size; the parent merges the workers'
`Accumulated` states -- exact sums, so the merge does not depend on how the
records were shared -- and copies the parts back in read order. A worker
that fails stops the run: of input errors, the one of the earliest partition
is raised, which is the one one process reading in order meets first; an
OSError writing its part files (disk full) as the OSError it is, anything
else as an internal error with the worker's traceback. A worker dies with its
parent (SIGKILL or SIGTERM of the parent leaves no worker rating on and filling
the disk with parts).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue as queues
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import localcontext
from itertools import islice
from operator import itemgetter, lt
from pathlib import Path
from typing import IO, Any

from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.runtime.inputs.locations import as_input, size_of
from clearline.runtime.inputs.partitions import Partition, plan_partitions, read_partition
from clearline.runtime.inputs.readers import ID_COLUMN, Batch, InputError, Skim, fewer_collections
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.rating.accounts import Conversion
from clearline.runtime.rating.accumulate import RatedRows
from clearline.runtime.rating.engine import Accumulated, Engine
from clearline.runtime.store.run_folder import RatedText, RunWriter

__all__ = ["MIN_PARTITION", "WorkerFailed", "partitions_for", "settle_in_workers"]

_POLL = 1  # second between looks at the workers while waiting for a message
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
MIN_PARTITION = 4 << 20  # bytes: a smaller file is one partition
PER_WORKER = 4  # partitions per worker, about, for a fair share when some are slower

Seen = dict[str, tuple[str, int]]  # record id -> (file, line) where it was first read


class WorkerFailed(RuntimeError):
    """A worker process stopped on something other than an input error."""


@dataclass(frozen=True, slots=True)
class _Share:
    """What one worker needs (sent to a fresh process: every field pickles)."""

    plans: list[ir.ContractPlan]
    period: str
    customers: dict[str, Customer] | None
    candidates: set[str] | frozenset[str] | None
    parts: list[tuple[int, Partition]]  # (its number in the run, the partition), in read order
    batch_size: int
    worker: int
    folder: str | None  # the folder for rated rows' part files; None writes none
    route: bool = False  # records of other periods are routed, not rejected
    settled: dict[str, str] | None = None  # ids a closed period settled (the ledger's) -> where
    refunds: dict[str, str] | None = None  # refund record id -> why not ("" if fine); the ledger's
    too_late: dict[str, str] | None = None  # closed periods past their late-usage window -> why
    conversions: dict[str, dict[str, Conversion]] | None = None  # units of account, per version
    # per partition number: the remembered ids first read in the partitions before it
    seen_before: dict[int, Seen] = field(default_factory=dict)
    labels: dict[str, str] | None = None  # a usage file's path -> its name in rejects and traces
    parent: int | None = None  # the parent's process id: the worker dies with it
    check_order: bool = False  # note whether the record ids read increase (`_Outcome.order`)
    columnar: bool = False  # rate CSV partitions with the columnar engine (runtime.rating.columnar)

    def label(self, path: str) -> str:
        return path if self.labels is None else self.labels.get(path, path)


@dataclass(slots=True)
class _Outcome:
    acc: Accumulated
    # per batch rated, in order: ((partition, batch), rows, CSV bytes, JSON Lines bytes)
    sizes: list[tuple[tuple[int, int], int, int, int]] = field(default_factory=list)
    # with `check_order`: (whether the non-empty record ids strictly increase in read
    # order, the first, the last); None first and last when no record has an id
    order: tuple[bool, str | None, str | None] = (True, None, None)


def _note_order(outcome: _Outcome, columns: list[str], batch: Batch) -> None:
    """Fold a batch's record ids (as the engine reads them: the last record_id column)
    into `outcome.order`."""
    index = {name: i for i, name in enumerate(columns)}.get(ID_COLUMN)
    if index is None or not outcome.order[0]:
        return
    try:  # in C: a row is as wide as the header, but a JSON Lines row may be shorter
        ids = list(filter(None, map(itemgetter(index), batch.rows)))
    except IndexError:
        ids = [v for row in batch.rows if index < len(row) and (v := row[index])]
    if not ids:
        return
    increasing, first, last = outcome.order
    if (last is not None and not last < ids[0]) or not all(map(lt, ids, islice(ids, 1, None))):
        increasing = False
    outcome.order = (increasing, first if first is not None else ids[0], ids[-1])


class _PartFailed(Exception):
    """An input error in a worker's partition (its number in the run)."""

    def __init__(self, number: int, error: InputError) -> None:
        super().__init__(error.message)
        self.number = number
        self.error = error


def _part(folder: str, worker: int, suffix: str) -> Path:
    return Path(folder) / f"worker-{worker}.{suffix}"


def partitions_for(usage: Sequence[str], workers: int, route: bool = False) -> list[Partition]:
    """The partitions of the usage files, in read order: about PER_WORKER per worker
    over all the bytes, none smaller than MIN_PARTITION. JSON Lines files are cut
    only when no record is routed (`route`; see runtime.inputs.partitions)."""
    sizes = []
    for path in usage:
        try:
            sizes.append(size_of(as_input(path)))
        except (OSError, InputError):
            sizes.append(0)
    target = max(MIN_PARTITION, sum(sizes) // max(1, workers * PER_WORKER))
    return [part for path in usage for part in plan_partitions(as_input(path), target, json_lines=not route)]


def _die_with(parent: int) -> None:
    """End this worker when `parent` ends, however it ends (SIGKILL too): on Linux
    the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); and if the
    parent died before that was set (or elsewhere), the worker's parent is no
    longer `parent`, which `_orphaned` sees after each batch."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the check after each batch remains
            pass
    _orphaned(parent)


def _orphaned(parent: int) -> None:
    if os.getppid() != parent:
        os._exit(1)  # nobody waits for this worker's outcome: stop writing part files now


def _work(job: Callable[[_Share, Callable[[int], None]], Any], share: _Share, messages: Any) -> None:
    """A worker's whole life: one pass over its partitions, then report.

    Ctrl-C is the parent's to handle: it stops the workers (SIGTERM) on its way
    out, so a worker ignores SIGINT rather than race it with a traceback. A
    worker dies with its parent (`_die_with`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if share.parent is not None:
        _die_with(share.parent)

    def progress(read: int) -> None:
        if share.parent is not None:
            _orphaned(share.parent)
        messages.put(("read", share.worker, read))

    try:
        outcome = job(share, progress)
    except _PartFailed as failed:
        err = failed.error
        messages.put(("input", share.worker, (failed.number, err.path, err.message, err.hint)))
    except OSError as err:  # its part files cannot be written (disk full)
        messages.put(("os", share.worker, (err.errno, err.strerror, err.filename)))
    except BaseException:  # reported to the parent, which stops the run
        messages.put(("crash", share.worker, traceback.format_exc()))
    else:
        messages.put(("done", share.worker, outcome))


def _skim(share: _Share) -> Skim | None:
    """Only the rows of candidate duplicates are wanted, to admit (None: every row)."""
    candidates = share.candidates
    return None if candidates is None else (lambda n: candidates)


def _first_reads(share: _Share, progress: Callable[[int], None]) -> dict[int, Seen]:
    """The first pass: per partition, where each remembered id is first read in it."""
    found: dict[int, Seen] = {}
    with localcontext(CONTEXT), fewer_collections():
        for number, part in share.parts:
            engine = Engine(
                share.plans,
                share.period,
                share.customers,
                share.candidates,
                route=share.route,
                conversions=share.conversions,
            )
            try:
                usage_file = read_partition(part, share.batch_size, _skim(share))
                for batch in usage_file.batches:
                    engine.admit(share.label(part.path), usage_file.columns, batch)
            except InputError as err:
                raise _PartFailed(number, err) from None
            found[number] = engine.seen
    return found


def _rate_share(share: _Share, progress: Callable[[int], None]) -> _Outcome:
    """The second pass: rate the partitions, the ids read before each already seen."""
    with localcontext(CONTEXT), fewer_collections():
        engine = Engine(
            share.plans,
            share.period,
            share.customers,
            share.candidates,
            route=share.route,
            settled=share.settled,
            refunds=share.refunds,
            too_late=share.too_late,
            conversions=share.conversions,
        )
        outcome = _Outcome(engine.acc)
        text = RatedText()
        csv_part: IO[bytes] | None = None
        json_part: IO[bytes] | None = None
        write: Write | None = None
        if share.folder is not None:
            csv_part = _part(share.folder, share.worker, "csv").open("wb")
            json_part = _part(share.folder, share.worker, "jsonl").open("wb")

            def write(number: int, k: int, rows: RatedRows) -> None:
                assert csv_part is not None and json_part is not None
                csv_text, json_text = (t.encode() for t in text.render(rows))
                csv_part.write(csv_text)
                json_part.write(json_text)
                outcome.sizes.append(((number, k), len(rows), len(csv_text), len(json_text)))

        try:
            for number, part in share.parts:
                if share.columnar and not share.check_order and part.kind in ("bytes", "whole"):
                    from clearline.runtime.rating.columnar_worker import rate_part  # polars

                    try:  # polars reads a CSV partition's blocks (rating.columnar)
                        seen, parts = share.seen_before.get(number, {}), (csv_part, json_part)
                        label, sizes = share.label(part.path), outcome.sizes
                        rate_part(
                            engine, number, part, label, share.batch_size, seen, text, sizes, parts, progress
                        )
                    except InputError as err:
                        raise _PartFailed(number, err) from None
                    continue
                rate_partition(
                    engine,
                    number,
                    part,
                    share.label(part.path),
                    share.batch_size,
                    share.seen_before.get(number, {}),
                    write,
                    outcome if share.check_order else None,
                    progress,
                )
        finally:
            for handle in (csv_part, json_part):
                if handle is not None:
                    handle.close()
        return outcome


# where a partition's rated rows go, batch by batch: (partition number, batch number, rows)
Write = Callable[[int, int, RatedRows], None]


def rate_partition(
    engine: Engine,
    number: int,
    part: Partition,
    label: str,
    batch_size: int,
    seen: Seen,
    write: Write | None,
    order: _Outcome | None,
    progress: Callable[[int], None],
) -> None:
    """Rate one partition (number `number` of the run) into `engine.acc`, the ids of
    `seen` read before it; each batch's rated rows to `write`, and its record ids
    folded into `order.order` when given. An input error is `_PartFailed`."""
    for rid, where in seen.items():
        engine.seen.setdefault(rid, where)
    try:
        usage_file = read_partition(part, batch_size)
        for k, batch in enumerate(usage_file.batches):
            before = engine.acc.read
            if order is not None:
                _note_order(order, usage_file.columns, batch)
            rows = engine.feed(label, usage_file.columns, batch)
            if write is not None:
                write(number, k, rows)
            progress(engine.acc.read - before)
    except InputError as err:
        raise _PartFailed(number, err) from None


def _start_method() -> Any:
    """Fork on Linux while this process runs one thread (a worker then starts in
    milliseconds, with nothing to import); else spawn, the only safe way with
    threads (a progress bar's, polars' pool once polars is imported: a forked
    worker's polars waits forever on its parent's pool) or on other systems.
    Results do not depend on it."""
    if sys.platform == "linux" and threading.active_count() == 1 and "polars" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start workers with SIGINT ignored from their first instruction (a fork and an
    exec keep an ignored signal), so that Ctrl-C reaches the parent alone and none of
    them prints a traceback before `_work` could ignore it; the parent's own handling
    comes back once they are started."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; `_work` ignores SIGINT itself
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def settle_in_workers(
    engine: Engine,
    usage: Sequence[str],
    batch_size: int,
    workers: int,
    writer: RunWriter | None,
    progress: Callable[[int], None] | None = None,
    labels: Sequence[str] | None = None,
    columnar: bool = False,
) -> None:
    """Rate the usage files in `workers` processes into `engine.acc`, and the
    rated rows, in read order, into `writer`. `labels` name the files in rejects
    and traces (default: their paths). `columnar`: each worker rates its CSV
    partitions with the columnar engine (polars; `--engine columnar`)."""
    parts = list(enumerate(partitions_for(usage, workers, engine.route)))
    count = max(1, min(workers, len(parts)))
    parts_root = writer.out if writer is not None else None
    with tempfile.TemporaryDirectory(prefix=".workers-", dir=parts_root) as folder:
        shares = [
            _Share(
                engine.plans,
                engine.period_label,
                engine.customers,
                engine.candidates,
                parts[k::count],
                batch_size,
                k,
                folder if writer is not None else None,
                engine.route,
                engine.settled,
                engine.refunds,
                engine.too_late,
                engine.conversions,
                labels=dict(zip(map(str, map(Path, usage)), labels, strict=True))
                if labels is not None
                else None,
                parent=os.getpid(),
                columnar=columnar,
            )
            for k in range(count)
        ]
        if engine.candidates is None or engine.candidates:  # some ids are remembered
            first_reads: dict[int, Seen] = {}
            for found in _run(_first_reads, shares, None):
                first_reads.update(found)
            before = _seen_before([first_reads.get(n, {}) for n, _ in parts])
            first_reads.clear()
            shares = [replace(share, seen_before={n: before[n] for n, _ in share.parts}) for share in shares]
        outcomes = _run(_rate_share, shares, progress)
        engine.acc = outcomes[0].acc
        for outcome in outcomes[1:]:
            engine.acc.merge(outcome.acc)
        if writer is not None:
            _copy_parts(folder, outcomes, writer)


def _seen_before(first_reads: list[Seen]) -> list[Seen]:
    """Per partition, of the ids it remembers, those first read in a partition before
    it, with where: the earliest wins, as in one process reading them in order. (An id
    it does not remember -- not in it, or only on records rejected before the duplicate
    check -- it never looks up.)"""
    before: list[Seen] = []
    running: Seen = {}
    for found in first_reads:
        before.append({rid: running[rid] for rid in found.keys() & running.keys()})
        for rid, where in found.items():
            running.setdefault(rid, where)
    return before


Job = Callable[[_Share, Callable[[int], None]], Any]


def _run(job: Job, shares: list[_Share], progress: Callable[[int], None] | None) -> list[Any]:
    """One pass: a process per share, each running `job`; their results in share order."""
    context = _start_method()
    messages = context.Queue()
    processes = [context.Process(target=_work, args=(job, share, messages), daemon=True) for share in shares]
    with _workers_ignore_sigint():
        for process in processes:
            process.start()
    try:
        return _collect(processes, messages, progress)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        messages.close()


def _collect(processes: list[Any], messages: Any, progress: Callable[[int], None] | None) -> list[Any]:
    """Every worker's result; an input error is raised once every worker has reported
    (the earliest partition's), so that the error is the one one process meets."""
    outcomes: dict[int, Any] = {}
    failed: list[tuple[int, str, str, str | None]] = []
    read = 0
    while len(outcomes) + len(failed) < len(processes):
        try:
            kind, worker, payload = messages.get(timeout=_POLL)
        except queues.Empty:
            for k, process in enumerate(processes):
                # a worker always reports before it ends, unless it was killed
                if k not in outcomes and process.exitcode not in (None, 0):
                    raise WorkerFailed(
                        f"worker {k} stopped (exit code {process.exitcode}) before it reported"
                    ) from None
            continue
        if kind == "read":
            read += payload
            if progress is not None:
                progress(read)
        elif kind == "done":
            outcomes[worker] = payload
        elif kind == "input":
            failed.append(payload)
        elif kind == "os":
            raise OSError(*payload)
        else:
            raise WorkerFailed(f"worker {worker} failed:\n{payload}")
    if failed:
        _, path, message, hint = min(failed)
        raise InputError(path, message, hint)
    return [outcomes[k] for k in range(len(processes))]


def _copy_parts(folder: str, outcomes: list[_Outcome], writer: RunWriter) -> None:
    """The workers' rated rows back into the run's files, batch by batch in read order."""
    order = sorted((size, k) for k, outcome in enumerate(outcomes) for size in outcome.sizes)
    handles = {
        k: (_part(folder, k, "csv").open("rb"), _part(folder, k, "jsonl").open("rb"))
        for k in range(len(outcomes))
    }
    try:
        for (_, rows, csv_size, json_size), k in order:
            csv_part, json_part = handles[k]
            writer.rated_text(rows, csv_part.read(csv_size), json_part.read(json_size))
    finally:
        for csv_part, json_part in handles.values():
            csv_part.close()
            json_part.close()
