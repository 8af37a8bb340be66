"""Settling with worker processes: the same run, byte for byte, as one process.

Worker k of N reads every usage file and rates the batches whose number
(counted through the files in order) is k modulo N. The other batches it only
admits (`Engine.admit`): its engine remembers their ids exactly as one engine
reading everything would, so a duplicate is rejected whichever worker rates
it, naming where the id was first read. Of those batches it parses only the
rows of candidate duplicates (`read_usage(skim=...)`; none when the ids
increase), so reading them costs little next to rating, and no row is sent
between processes.

Each worker renders its rated rows into part files and notes each batch's
size; the parent merges the workers' `Accumulated` states -- exact sums, so
the merge does not depend on how the batches were shared -- and copies the
parts back in read order. A worker that fails stops the run: an input error
is raised as one process would raise it (every worker reads the same files in
the same order, so the first error is the same), an OSError writing its part
files (disk full) as the OSError it is, anything else as an internal error
with the worker's traceback.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import localcontext
from pathlib import Path
from typing import IO, Any

from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.runtime.inputs.readers import InputError, Skim, fewer_collections, read_usage
from clearline.runtime.inputs.refdata import Customer
from clearline.runtime.rating.engine import Accumulated, Engine
from clearline.runtime.store.run_folder import RatedText, RunWriter

__all__ = ["WorkerFailed", "settle_in_workers"]

_POLL = 1  # second between looks at the workers while waiting for a message


class WorkerFailed(RuntimeError):
    """A worker process stopped on something other than an input error."""


@dataclass(frozen=True, slots=True)
class _Share:
    """What one worker needs (sent to a fresh process: every field pickles)."""

    plans: list[ir.ContractPlan]
    period: str
    customers: dict[str, Customer] | None
    candidates: set[str] | frozenset[str] | None
    usage: list[str]
    batch_size: int
    worker: int
    workers: int
    parts: str | None  # the folder for rated rows' part files; None writes none
    route: bool = False  # records of other periods are routed, not rejected
    settled: dict[str, str] | None = None  # ids a closed period settled (the ledger's) -> where
    refunds: dict[str, str] | None = None  # refund record id -> why not ("" if fine); the ledger's


@dataclass(slots=True)
class _Outcome:
    acc: Accumulated
    # per batch rated, in order: (batch number, rows, CSV bytes, JSON Lines bytes)
    sizes: list[tuple[int, int, int, int]] = field(default_factory=list)


def _part(folder: str, worker: int, suffix: str) -> Path:
    return Path(folder) / f"worker-{worker}.{suffix}"


def _work(share: _Share, messages: Any) -> None:
    """A worker's whole life: rate its batches, admit the others, report.

    Ctrl-C is the parent's to handle: it stops the workers (SIGTERM) on its way
    out, so a worker ignores SIGINT rather than race it with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = _rate_share(share, lambda read: messages.put(("read", share.worker, read)))
    except InputError as err:
        messages.put(("input", share.worker, (err.path, err.message, err.hint)))
    except OSError as err:  # its part files cannot be written (disk full)
        messages.put(("os", share.worker, (err.errno, err.strerror, err.filename)))
    except BaseException:  # reported to the parent, which stops the run
        messages.put(("crash", share.worker, traceback.format_exc()))
    else:
        messages.put(("done", share.worker, outcome))


def _rate_share(share: _Share, progress: Callable[[int], None]) -> _Outcome:
    with localcontext(CONTEXT), fewer_collections():
        engine = Engine(
            share.plans,
            share.period,
            share.customers,
            share.candidates,
            route=share.route,
            settled=share.settled,
            refunds=share.refunds,
        )
        outcome = _Outcome(engine.acc)
        text = RatedText()
        csv_part: IO[bytes] | None = None
        json_part: IO[bytes] | None = None
        if share.parts is not None:
            csv_part = _part(share.parts, share.worker, "csv").open("wb")
            json_part = _part(share.parts, share.worker, "jsonl").open("wb")
        try:
            number = 0
            for path in share.usage:
                usage_file = read_usage(Path(path), share.batch_size, _skim(share, number))
                for batch in usage_file.batches:
                    if number % share.workers != share.worker:
                        engine.admit(path, usage_file.columns, batch)
                    else:
                        before = engine.acc.read
                        rows = engine.feed(path, usage_file.columns, batch)
                        if csv_part is not None and json_part is not None:
                            csv_text, json_text = (t.encode() for t in text.render(rows))
                            csv_part.write(csv_text)
                            json_part.write(json_text)
                            outcome.sizes.append((number, len(rows), len(csv_text), len(json_text)))
                        progress(engine.acc.read - before)
                    number += 1
        finally:
            for handle in (csv_part, json_part):
                if handle is not None:
                    handle.close()
        return outcome


def _start_method() -> Any:
    """Fork on Linux while this process runs one thread (a worker then starts in
    milliseconds, with nothing to import); else spawn, the only safe way with
    threads (a progress bar's) or on other systems. Results do not depend on it."""
    if sys.platform == "linux" and threading.active_count() == 1:
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


def _skim(share: _Share, first: int) -> Skim | None:
    """The batches of a file (its first is batch `first` of the run) another worker
    rates: only the rows of the candidate duplicates are wanted of them, to admit."""
    candidates = share.candidates
    if candidates is None:  # every id is remembered: every row is wanted
        return None

    def skim(n: int) -> AbstractSet[str] | None:
        return None if (first + n) % share.workers == share.worker else candidates

    return skim


def settle_in_workers(
    engine: Engine,
    usage: Sequence[str],
    batch_size: int,
    workers: int,
    writer: RunWriter | None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Rate the usage files in `workers` processes into `engine.acc`, and the
    rated rows, in read order, into `writer`."""
    context = _start_method()
    messages = context.Queue()
    parts_root = writer.out if writer is not None else None
    with tempfile.TemporaryDirectory(prefix=".workers-", dir=parts_root) as parts:
        shares = [
            _Share(
                engine.plans,
                engine.period_label,
                engine.customers,
                engine.candidates,
                list(usage),
                batch_size,
                k,
                workers,
                parts if writer is not None else None,
                engine.route,
                engine.settled,
                engine.refunds,
            )
            for k in range(workers)
        ]
        processes = [context.Process(target=_work, args=(share, messages), daemon=True) for share in shares]
        with _workers_ignore_sigint():
            for process in processes:
                process.start()
        try:
            outcomes = _collect(processes, messages, progress)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join()
            messages.close()
        engine.acc = outcomes[0].acc
        for outcome in outcomes[1:]:
            engine.acc.merge(outcome.acc)
        if writer is not None:
            _copy_parts(parts, outcomes, writer)


def _collect(processes: list[Any], messages: Any, progress: Callable[[int], None] | None) -> list[_Outcome]:
    outcomes: dict[int, _Outcome] = {}
    read = 0
    while len(outcomes) < len(processes):
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
            path, message, hint = payload
            raise InputError(path, message, hint)
        elif kind == "os":
            raise OSError(*payload)
        else:
            raise WorkerFailed(f"worker {worker} failed:\n{payload}")
    return [outcomes[k] for k in range(len(processes))]


def _copy_parts(parts: str, outcomes: list[_Outcome], writer: RunWriter) -> None:
    """The workers' rated rows back into the run's files, batch by batch in read order."""
    order = sorted((size, k) for k, outcome in enumerate(outcomes) for size in outcome.sizes)
    handles = {
        k: (_part(parts, k, "csv").open("rb"), _part(parts, k, "jsonl").open("rb"))
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
