"""Worker processes (`--workers`): the run folder is the same, byte for byte,
whatever the number of workers -- rated records in read order, duplicates
rejected where one process would reject them, the same errors."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from decimal import localcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clearline
from clearline.compiler import ir
from clearline.money import CONTEXT
from clearline.runtime import parallel
from clearline.runtime.inputs.partitions import plan_partitions
from clearline.runtime.rating.engine import Engine
from clearline.runtime.settlement.settle import finish
from clearline.runtime.store.folder import MARKER
from conftest import CONTRACTS, DATA, PERIOD, read_csv, text_parquet

HEADER = "record_id,timestamp,customer_id,service,destination,quantity,unit\n"


def cdr(rid: str, ts: str = "2026-03-02T10:00:00+01:00", quantity: str = "61") -> str:
    return f"{rid},{ts},C-1001,voice-out,4860123456,{quantity},s\n"


def tricky_usage(folder: Path) -> list[Path]:
    """Duplicates whose first reading sits in another batch (of another worker), first
    readings that do not count (no offset, not a date), bad and unmatched records."""
    first = folder / "cdrs-1.csv"
    first.write_bytes(
        (
            HEADER
            + cdr("A")  # line 2: A is first read here
            + cdr("B", ts="2026-03-02T10:00:00")  # no offset: rejected, B not yet read
            + cdr("C", quantity="abc")  # a bad quantity: rejected, but C was read
            + cdr("D", ts="not a date")
            + cdr("E")
            + cdr("A")  # line 7: duplicate of line 2
            + cdr("B")  # line 8: the first B that counts
            + cdr("C")  # line 9: duplicate of line 4
            + "F,2026-03-03T10:00:00+01:00,C-1001,sms-out,4860,1,msg\n"  # unmatched
        ).encode()
        + b"G,2026-03-03T10:00:00+01:00,C-1001,voice-out,48\xff,1,s\n"  # not UTF-8
        + (cdr("B") + cdr("D") + cdr("H") + cdr("E", ts="2026-04-02T10:00:00+02:00")).encode()
    )
    second = folder / "cdrs-2.csv"
    second.write_text(HEADER + cdr("E") + cdr("I") + cdr("H") + cdr("J"), encoding="utf-8")
    return [first, second, DATA / "streamplus-subscriptions.csv"]


def settle_into(out: Path, usage: list[Path], workers: int, batch_size: int = 2) -> clearline.Settlement:
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract", CONTRACTS / "streamplus.contract"])
    return clearline.run(
        plans,
        usage,
        PERIOD,
        fx=DATA / "fx-rates.csv",
        customers=DATA / "customers.csv",
        out=out,
        batch_size=batch_size,
        workers=workers,
    )


def folder_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_any_number_of_workers_writes_the_same_run_folder(tmp_path: Path) -> None:
    usage = tricky_usage(tmp_path)
    one = settle_into(tmp_path / "one", usage, workers=1)
    expected = folder_bytes(tmp_path / "one")
    assert set(expected) >= {"manifest.json", "rated_records.csv", "rejects.csv", "trace.jsonl"}
    for workers, batch_size in ((2, 2), (3, 1), (4, 5)):
        out = tmp_path / f"workers-{workers}"
        result = settle_into(out, usage, workers, batch_size)
        assert folder_bytes(out) == expected, workers
        assert (result.read, result.rated) == (one.read, one.rated)
    # what one process finds, spelled out
    rejects = [
        (r["file"].rsplit("/", 1)[1], r["line"], r["record_id"], r["reason"])
        for r in read_csv(tmp_path / "one" / "rejects.csv")
    ]
    duplicates = [
        (f, line, rid, reason.rsplit("/", 1)[1]) for f, line, rid, reason in rejects if "duplicate" in reason
    ]
    assert duplicates == [
        ("cdrs-1.csv", "7", "A", "cdrs-1.csv:2"),
        ("cdrs-1.csv", "9", "C", "cdrs-1.csv:4"),  # the first C was rejected, but read
        ("cdrs-1.csv", "12", "B", "cdrs-1.csv:8"),  # the first B had no offset: line 8 counts
        ("cdrs-1.csv", "15", "E", "cdrs-1.csv:6"),  # a duplicate before it is out of period
        ("cdrs-2.csv", "2", "E", "cdrs-1.csv:6"),
        ("cdrs-2.csv", "4", "H", "cdrs-1.csv:14"),
    ]
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["counts"]["reconciled"] is True
    assert [r["record_id"] for r in read_csv(tmp_path / "one" / "unmatched.csv")] == ["F"]


def test_workers_read_partitions_of_each_file_once_and_write_the_same_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partitions of 64 bytes (about one record each): of the tricky files, of a CSV
    file with quoted line breaks, of a Parquet file of one row per row group and of
    a JSON Lines file; the run folder is the one of one process for 2 and 3 workers."""
    usage = tricky_usage(tmp_path)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(
        HEADER
        + 'Q1,2026-03-04T10:00:00+01:00,C-1001,voice-out,"4860\n123",61,s\n'
        + cdr("A")  # a duplicate of cdrs-1.csv:2
        + 'Q2,2026-03-04T10:00:00+01:00,C-1001,"voice-out",4860123456,"6\n1",s\n'
        + cdr("Q1"),
        encoding="utf-8",
    )
    usage.append(quoted)
    usage.append(text_parquet(usage[1], tmp_path / "cdrs-3.parquet", row_group_size=1))
    lines = tmp_path / "cdrs-4.jsonl"  # keys in two orders, a duplicate of quoted.csv's Q2
    lines.write_text(
        '{"record_id": "J1", "timestamp": "2026-03-05T10:00:00+01:00", "customer_id": "C-1001", '
        '"service": "voice-out", "destination": "4860123456", "quantity": 61, "unit": "s"}\n'
        '{"unit": "s", "quantity": "30", "destination": "4860123456", "service": "voice-out", '
        '"customer_id": "C-1001", "timestamp": "2026-03-05T11:00:00+01:00", "record_id": "Q2"}\n'
        '{"record_id": "J2", "timestamp": "2026-03-05T12:00:00+01:00"}\n',
        encoding="utf-8",
    )
    usage.append(lines)
    settle_into(tmp_path / "one", usage, workers=1)
    expected = folder_bytes(tmp_path / "one")
    monkeypatch.setattr(parallel, "MIN_PARTITION", 64)
    monkeypatch.setattr(parallel, "PER_WORKER", 1000)  # the parts as small as MIN_PARTITION
    parts = parallel.partitions_for([str(u) for u in usage], 2)
    assert len(parts) >= 12 and {p.kind for p in parts} == {"bytes", "row groups"}
    assert len([p for p in parts if p.path == str(lines)]) == 3
    # when records are routed, a JSON Lines file is whole (a part's key order is its own)
    assert [p.kind for p in parallel.partitions_for([str(lines)], 2, route=True)] == ["whole"]
    for workers in (2, 3):
        settle_into(tmp_path / f"parts-{workers}", usage, workers)
        assert folder_bytes(tmp_path / f"parts-{workers}") == expected, workers
    rejects = read_csv(tmp_path / "one" / "rejects.csv")
    duplicates = {
        (r["file"].rsplit("/", 1)[1], r["line"], r["record_id"])
        for r in rejects
        if "duplicate" in r["reason"]
    }
    # quoted.csv: A on line 4 (after a record of two lines), Q1 on line 7; the Parquet
    # file repeats cdrs-2.csv's records: every one a duplicate, E, I, H and J
    assert {("quoted.csv", "4", "A"), ("quoted.csv", "7", "Q1"), ("cdrs-4.jsonl", "2", "Q2")} <= duplicates
    assert {d for d in duplicates if d[0] == "cdrs-3.parquet"} == {
        ("cdrs-3.parquet", str(n), rid) for n, rid in ((1, "E"), (2, "I"), (3, "H"), (4, "J"))
    }


def test_spawned_workers_write_the_same_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers are forked on Linux when the process runs one thread, else spawned."""
    usage = tricky_usage(tmp_path)
    settle_into(tmp_path / "forked", usage, workers=2)
    monkeypatch.setattr(parallel, "_start_method", lambda: multiprocessing.get_context("spawn"))
    settle_into(tmp_path / "spawned", usage, workers=2)
    assert folder_bytes(tmp_path / "spawned") == folder_bytes(tmp_path / "forked")


def test_a_file_that_cannot_be_read_stops_every_worker_with_the_same_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text('record_id,"timestamp\n' + cdr("A"), encoding="utf-8")
    usage = [DATA / "nordcarrier-cdrs.csv", broken]
    messages = []
    for workers in (1, 2):
        with pytest.raises(clearline.ClearlineError) as caught:
            settle_into(tmp_path / f"out-{workers}", usage, workers)
        (diagnostic,) = caught.value.diagnostics
        messages.append((diagnostic.code, diagnostic.message))
        assert not (tmp_path / f"out-{workers}" / "manifest.json").exists()
        assert not list((tmp_path / f"out-{workers}").glob(".workers-*"))
    assert messages[0] == messages[1]
    assert messages[0][0] == "E0501"
    assert "the header has a quote that is never closed" in messages[0][1]


# --- the sharing itself, in one process: quick enough for many examples ---------------------

ids = st.sampled_from(["A", "B", "C", "D", "E"])
# mostly read (and so remembered), some not: no offset, not a date, none
READ = "2026-03-02T10:00:00+01:00"
NOT_READ = ["2026-03-02T10:00:00", "2026-02-30T10:00", ""]
stamps = st.sampled_from([READ, READ, READ, "2026-03-31T23:30:00+02:00", *NOT_READ])


lines = st.one_of(
    st.tuples(ids, stamps, st.sampled_from(["61", "0", "x", "-1"])).map(lambda t: cdr(*t)),
    st.sampled_from(["\n", "A,2026-03-02T10:00:00+01:00\n", "B,2026-03-02T10:00:00+01:00,C-1001\r\n"]),
)
# quoted cells, some holding a line break (a row over two lines) or a quote
quoted = st.one_of(
    lines,
    st.tuples(ids, st.sampled_from(['"voice-out"', '"voice\nout"', '"a ""b"""'])).map(
        lambda t: f"{t[0]},{READ},C-1001,{t[1]},4860123456,61,s\n"
    ),
)


def shared_settle(
    plans: list[ir.ContractPlan],
    usage: Path,
    candidates: set[str] | None,
    batch_size: int,
    shares: int,
    target: int,
) -> tuple[object, ...]:
    """The two passes of runtime.parallel, in this process: `shares` workers over the
    partitions of about `target` bytes, their states merged, then settled."""
    parts = list(enumerate(plan_partitions(usage, target)))
    share_list = [
        parallel._Share(plans, PERIOD, None, candidates, parts[k::shares], batch_size, k, None)
        for k in range(shares)
    ]
    first: dict[int, dict[str, tuple[str, int]]] = {}
    for share in share_list:
        first.update(parallel._first_reads(share, lambda read: None))
    before = parallel._seen_before([first.get(n, {}) for n, _ in parts])
    outcomes = [
        parallel._rate_share(
            dataclasses.replace(share, seen_before={n: before[n] for n, _ in share.parts}), lambda read: None
        )
        for share in share_list
    ]
    engine = Engine(plans, PERIOD, None, candidates)
    engine.acc = outcomes[0].acc
    for outcome in outcomes[1:]:
        engine.acc.merge(outcome.acc)
    with localcontext(CONTEXT):
        result = finish(engine, None)
    return (
        [ln.row() for ln in result.lines],
        result.traces,
        sorted(dataclasses.astuple(r) for r in result.rejects),
        sorted(dataclasses.astuple(r) for r in result.unmatched),
        result.read,
        result.rated,
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(quoted, max_size=30).map("".join),
    workers=st.integers(2, 4),
    batch_size=st.integers(1, 4),
    target=st.integers(1, 200),
    remembered=st.sampled_from(["every id", "the duplicates", "more ids"]),
)
def test_partitions_settle_as_one_engine_does(
    body: str, workers: int, batch_size: int, target: int, remembered: str, tmp_path: Path
) -> None:
    """Blank and short lines, CRLF, quoted line breaks, duplicates: partitions of a few
    bytes, each read by one worker, with the ids first read before it, come out as one
    engine reading the whole file."""
    usage = tmp_path / "usage.csv"
    usage.write_text(HEADER + body, encoding="utf-8", newline="")
    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract"])
    # the engine needs a superset of the ids read twice (exact here: the Bloom filter's
    # hashes are salted per process, which hypothesis could not replay)
    seen = [line.split(",")[0] for line in body.splitlines() if line]
    duplicated = {rid for rid in seen if seen.count(rid) > 1}
    candidates: set[str] | None = {
        "every id": None,
        "the duplicates": duplicated,
        "more ids": duplicated | {"A", "E"},
    }[remembered]
    one = shared_settle(plans, usage, candidates, batch_size, 1, 1 << 30)
    assert shared_settle(plans, usage, candidates, batch_size, workers, target) == one


def test_the_cli_takes_workers_and_verify_reproduces_with_them(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "nordcarrier.contract")]
    command += ["-u", str(DATA / "nordcarrier-cdrs.csv"), "-p", PERIOD, "-o", str(out), "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "clearline.cli", "verify", str(out), "-j", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "reproduced byte for byte" in again.stdout
    zero = subprocess.run([*command[:-1], "0"], capture_output=True, text=True, check=False)
    assert zero.returncode == 2
    assert "Traceback" not in zero.stderr


def test_ctrl_c_stops_every_worker_and_leaves_no_complete_looking_folder(tmp_path: Path) -> None:
    """SIGINT to the terminal's process group (what Ctrl-C sends) while workers rate:
    "interrupted", exit 130, no traceback from any process, no manifest, no partial files."""
    usage = tmp_path / "cdrs.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        handle.writelines(cdr(f"CDR-{i:07d}") for i in range(400_000))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "nordcarrier.contract")]
    command += ["-u", str(usage), "-p", PERIOD, "-o", str(out), "--workers", "2"]
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # a shell that starts a job in the background (as CI may) ignores SIGINT in it,
        # and Python keeps an ignored SIGINT: give the run the default, as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".workers-*/worker-*.csv")) and child.poll() is None:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    if (out / "manifest.json").exists():  # the run ended first: nothing left to interrupt
        pytest.skip("the run finished before the interrupt")
    assert child.returncode == 130, stderr.decode()
    assert "interrupted: " in stderr.decode() and "holds no complete run" in stderr.decode()
    assert b"Traceback" not in stderr
    assert not (out / "manifest.json").exists()
    # only the marker that says the folder is a run folder (and is its lock)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [MARKER]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc (Linux)")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path: Path, how: signal.Signals) -> None:
    """SIGKILL (or SIGTERM) of the parent while two workers rate a large file: both
    workers are gone within seconds, instead of rating on and filling the disk."""
    usage = tmp_path / "cdrs.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        handle.writelines(cdr(f"CDR-{i:07d}") for i in range(600_000))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "nordcarrier.contract")]
    command += ["-u", str(usage), "-p", PERIOD, "-o", str(out), "--workers", "2"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and child.poll() is None:
        assert time.monotonic() < deadline, "the workers did not start"
        if list(out.glob(".workers-*/worker-*.csv")):
            workers = [pid for pid in _children(child.pid) if _alive(pid)]
        time.sleep(0.02)
    if child.poll() is not None:
        pytest.skip("the run finished before its parent could be killed")
    os.kill(child.pid, how)
    child.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _alive(pid)] == []


def test_an_engine_restarted_per_partition_rates_as_a_new_engine_each(tmp_path: Path) -> None:
    """A Dask worker keeps one engine and restarts it for each partition
    (`Engine.restart`: the price memo and table look-ups stay warm). Over parts of 64
    bytes of the tricky files (duplicates, rejects, quoted line breaks, Parquet),
    every id remembered, each partition's rated rows and sums are those a new engine
    gives it."""
    import pickle

    from clearline.runtime.inputs.partitions import plan_partitions, read_partition
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.store.run_folder import RatedText

    plans, _ = clearline.load_plans([CONTRACTS / "nordcarrier.contract", CONTRACTS / "streamplus.contract"])
    parts = [part for path in tricky_usage(tmp_path) for part in plan_partitions(path, 64)]
    assert len(parts) > 10
    kept = Engine(plans, PERIOD, None, None)
    for part in parts:
        kept.restart()
        fresh = Engine(plans, PERIOD, None, None)
        rendered = []
        for engine in (fresh, kept):
            usage = read_partition(part, 2)
            text = RatedText()
            rendered.append([text.render(engine.feed(part.path, usage.columns, b)) for b in usage.batches])
        assert rendered[0] == rendered[1], part
        assert pickle.dumps(kept.acc) == pickle.dumps(fresh.acc), part
