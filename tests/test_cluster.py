"""`--engine dask`: on a real Dask cluster -- a scheduler and worker processes on
loopback -- the run folder is the one of one process, byte for byte, manifest
included; a worker killed mid-run changes nothing; a cluster that cannot be
used is a diagnostic and no run folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the cluster extra (dask, distributed) is not installed")

import clearline
from clearline import codes
from clearline.runtime.cluster import connect
from cluster_support import LocalProcesses, environment, scheduler_process, site_packages
from conftest import CONTRACTS, DATA, PERIOD, ROOT, read_csv, text_parquet
from test_workers import HEADER, cdr, folder_bytes, settle_into, tricky_usage

CONTRACT_FILES = [CONTRACTS / "nordcarrier.contract", CONTRACTS / "streamplus.contract"]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcesses]:
    """A scheduler and two workers, three processes, as `dask scheduler` and `dask worker` start them."""
    with scheduler_process(tmp_path_factory.mktemp("cluster")) as cluster:
        cluster.add_worker()
        cluster.add_worker()
        cluster.wait_for_workers(2)
        yield cluster


def usage_files(folder: Path) -> list[Path]:
    """Duplicates across files and partitions, rejects, an unmatched record, the
    StreamPlus subscriptions, quoted line breaks (at partition boundaries when the
    parts are a record or so), a Parquet file of one row per row group."""
    usage = tricky_usage(folder)
    quoted = folder / "quoted.csv"
    quoted.write_text(
        HEADER
        + 'Q1,2026-03-04T10:00:00+01:00,C-1001,voice-out,"4860\n123",61,s\n'
        + cdr("A")  # a duplicate of cdrs-1.csv:2
        + 'Q2,2026-03-04T10:00:00+01:00,C-1001,"voice-out",4860123456,"6\n1",s\n'
        + cdr("Q1"),
        encoding="utf-8",
    )
    usage.append(quoted)
    usage.append(text_parquet(usage[1], folder / "cdrs-3.parquet", row_group_size=1))
    return usage


def run_on(
    scheduler: str, usage: list[Path], out: Path, partition_bytes: int | None, parquet: Path | None = None
) -> clearline.Settlement:
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    seen: list[tuple[int, int]] = []
    with connect(scheduler) as cluster:
        result = clearline.run(
            plans,
            usage,
            PERIOD,
            fx=DATA / "fx-rates.csv",
            customers=DATA / "customers.csv",
            out=out,
            batch_size=2,
            cluster=cluster,
            partition_bytes=partition_bytes,
            partition_progress=lambda done, total: seen.append((done, total)),
            rated_parquet=parquet,
        )
    total = seen[-1][1]
    if parquet is not None:  # a part per partition, and the subscription events' last
        assert len(list(parquet.glob("part-*.parquet"))) == total + 1
    assert seen == [(k, total) for k in range(1, total + 1)]  # one step per partition
    return result


def test_two_worker_processes_write_the_run_folder_of_one_process(
    tmp_path: Path, two_workers: LocalProcesses
) -> None:
    """Parts of 1 byte (a record each), 64 bytes and the default (a file each): every
    file of the run folder, manifest included, is the one of one process. The
    duplicates one process finds, spelled out in test_workers, are among them:
    cdrs-1.csv line 7 (A, first read at line 2) and quoted.csv line 4 (A again)."""
    usage = usage_files(tmp_path)
    one = settle_into(tmp_path / "one", usage, workers=1)
    expected = folder_bytes(tmp_path / "one")
    for partition_bytes in (1, 64, None):
        out = tmp_path / f"dask-{partition_bytes}"
        result = run_on(two_workers.address, usage, out, partition_bytes, tmp_path / "parquet")
        assert folder_bytes(out) == expected, partition_bytes
        assert (result.read, result.rated) == (one.read, one.rated)
        # the workers' Parquet parts, in name order, hold the rated records' rows, in order
        assert parquet_rows(tmp_path / "parquet") == read_csv(out / "rated_records.csv")
        # and trace.parquet the traces: its `trace` column is trace.jsonl, line for line
        traces = pytest.importorskip("pyarrow.parquet").read_table(tmp_path / "parquet" / "trace.parquet")
        lines = (out / "trace.jsonl").read_text(encoding="utf-8").splitlines()
        assert traces.column("trace").to_pylist() == lines
        assert traces.column("line_id").to_pylist() == [json.loads(t)["line_id"] for t in lines]
    rejects = {
        (r["file"].rsplit("/", 1)[1], r["line"], r["record_id"]) for r in read_csv(out / "rejects.csv")
    }
    assert {("cdrs-1.csv", "7", "A"), ("quoted.csv", "4", "A"), ("cdrs-3.parquet", "1", "E")} <= rejects
    assert [r["record_id"] for r in read_csv(out / "unmatched.csv")] == ["F"]


def parquet_rows(folder: Path) -> list[dict[str, str]]:
    pq = pytest.importorskip("pyarrow.parquet")
    return [row for part in sorted(folder.glob("part-*.parquet")) for row in pq.read_table(part).to_pylist()]


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "clearline.cli", "simulate", *map(str, CONTRACT_FILES)]
    command += ["-p", PERIOD, "--fx", str(DATA / "fx-rates.csv"), "--customers", str(DATA / "customers.csv")]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, check=False, cwd=cwd)


def test_the_cli_on_a_scheduler_and_on_a_local_cluster(tmp_path: Path, two_workers: LocalProcesses) -> None:
    """`--engine dask --scheduler tcp://...` and `--scheduler local:1`: the folder of the
    plain `simulate`, and its output but for the folder's name; local:1 starts a
    LocalCluster, whose dashboard address is printed."""
    usage = [arg for path in usage_files(tmp_path) for arg in ("-u", path)]
    plain = cli(*usage, "-o", tmp_path / "plain")
    assert plain.returncode == 3, plain.stderr  # completed, with rejects
    expected = folder_bytes(tmp_path / "plain")
    for name, scheduler in (("tcp", two_workers.address), ("local", "local:1")):
        out = tmp_path / name
        parquet = ["--rated-parquet", tmp_path / f"{name}-parquet"]
        done = cli(
            *usage,
            "-o",
            out,
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--partition-bytes",
            "64",
            *parquet,
        )
        assert done.returncode == 3, done.stderr
        assert folder_bytes(out) == expected, name
        assert done.stdout == plain.stdout.replace(str(tmp_path / "plain"), str(out))
        assert "Traceback" not in done.stderr
        assert parquet_rows(tmp_path / f"{name}-parquet") == read_csv(out / "rated_records.csv")
    assert "dask dashboard: http://" in done.stderr
    wrong = cli(*usage, "-o", tmp_path / "wrong", "--scheduler", two_workers.address)
    assert wrong.returncode == 1 and f"error[{codes.BAD_OPTION}]" in wrong.stderr
    assert not (tmp_path / "wrong").exists()


def test_a_worker_killed_mid_run_changes_nothing(tmp_path: Path) -> None:
    """20,000 CDRs, every 100th a duplicate of the record before it, in parts of about
    20 kB (about 40 parts). When the first part is rated, one of the two workers is
    killed (SIGKILL): Dask runs its tasks again on the other, and the run folder is
    the one of one process: 20,000 read, 200 rejected as duplicates."""
    usage = tmp_path / "cdrs.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        for i in range(20_000):
            handle.write(cdr(f"CDR-{i - 1 if i % 100 == 99 else i:06d}"))
    settle_into(tmp_path / "one", [usage], workers=1, batch_size=500)
    expected = folder_bytes(tmp_path / "one")
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    with scheduler_process(tmp_path / "cluster") as processes:
        processes.add_worker()
        victim = processes.add_worker()
        processes.wait_for_workers(2)
        after: list[int] = []

        def kill_once(done: int, total: int) -> None:
            if victim.poll() is None:
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
            else:
                after.append(done)

        with connect(processes.address) as cluster:
            result = clearline.run(
                plans,
                [usage],
                PERIOD,
                fx=DATA / "fx-rates.csv",
                customers=DATA / "customers.csv",
                out=tmp_path / "dask",
                batch_size=500,
                cluster=cluster,
                partition_bytes=20_000,
                partition_progress=kill_once,
            )
        assert victim.returncode == -signal.SIGKILL
        assert after and after[-1] >= 30  # the run went on without it, over the other parts
    assert folder_bytes(tmp_path / "dask") == expected
    assert (result.read, len(result.rejects)) == (20_000, 200)


def test_a_scheduler_lost_mid_run_is_e0508_and_no_complete_run(tmp_path: Path) -> None:
    """The scheduler killed (SIGKILL) when the first partition is rated: a diagnostic,
    not a traceback, and no complete run (no manifest) is left."""
    usage = tmp_path / "cdrs.csv"
    with usage.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        handle.writelines(cdr(f"CDR-{i:06d}") for i in range(5_000))
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    with scheduler_process(tmp_path / "cluster") as processes:
        processes.add_worker()
        processes.wait_for_workers(1)
        assert processes.scheduler is not None
        scheduler = processes.scheduler

        def kill_scheduler(done: int, total: int) -> None:
            if scheduler.poll() is None:
                os.kill(scheduler.pid, signal.SIGKILL)
                scheduler.wait()

        with pytest.raises(clearline.ClearlineError) as caught, connect(processes.address) as cluster:
            clearline.run(
                plans,
                [usage],
                PERIOD,
                out=tmp_path / "run",
                batch_size=100,
                cluster=cluster,
                partition_bytes=5_000,
                partition_progress=kill_scheduler,
            )
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == codes.CLUSTER_UNAVAILABLE
    assert diagnostic.message.startswith("lost the Dask scheduler during the run")
    assert not (tmp_path / "run" / "manifest.json").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_is_e0508_and_no_run_folder(tmp_path: Path) -> None:
    usage = tmp_path / "cdrs.csv"
    usage.write_text(HEADER + cdr("A"), encoding="utf-8")
    scheduler = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    done = cli("-u", usage, "-o", tmp_path / "run", "--engine", "dask", "--scheduler", scheduler)
    assert done.returncode == 1
    assert f"error[{codes.CLUSTER_UNAVAILABLE}]" in done.stderr
    assert f"cannot reach the Dask scheduler at {scheduler}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    bad = cli("-u", usage, "-o", tmp_path / "run", "--engine", "dask", "--scheduler", "local:none")
    assert bad.returncode == 1 and f"error[{codes.BAD_OPTION}]" in bad.stderr


def unfit_worker_error(tmp_path: Path, python: list[str], env: dict[str, str]) -> str:
    """The diagnostics of a run on a cluster whose one worker is started so; no run folder."""
    usage = tmp_path / "cdrs.csv"
    usage.write_text(HEADER + cdr("A"), encoding="utf-8")
    with scheduler_process(tmp_path / "cluster") as processes:
        processes.add_worker(python, env)
        processes.wait_for_workers(1)
        done = cli("-u", usage, "-o", tmp_path / "run", "--engine", "dask", "--scheduler", processes.address)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    return done.stderr


def test_a_worker_without_clearline_is_e0509(tmp_path: Path) -> None:
    """A worker of a Python that has dask and distributed but not clearline: this
    environment's site-packages on the path, without the site module (-S), which
    would read the editable install's .pth file that puts clearline on the path."""
    stderr = unfit_worker_error(
        tmp_path, [sys.executable, "-S"], environment(PYTHONPATH=site_packages(), PYTHONSAFEPATH="1")
    )
    assert f"error[{codes.CLUSTER_WORKER_UNFIT}]" in stderr
    assert "cannot import clearline: ModuleNotFoundError" in stderr
    assert "No module named 'clearline'" in stderr


def test_a_worker_of_another_clearline_version_is_e0509(tmp_path: Path) -> None:
    """A worker that imports a copy of this clearline whose version says 0.0.9."""
    other = tmp_path / "other"
    shutil.copytree(ROOT / "src" / "clearline", other / "clearline")
    init = other / "clearline" / "version.py"
    text = init.read_text(encoding="utf-8")
    assert f'__version__ = "{clearline.__version__}"' in text
    init.write_text(text.replace(f'__version__ = "{clearline.__version__}"', '__version__ = "0.0.9"'))
    stderr = unfit_worker_error(tmp_path, [sys.executable], environment(PYTHONPATH=str(other)))
    assert f"error[{codes.CLUSTER_WORKER_UNFIT}]" in stderr
    assert f"runs clearline 0.0.9, this client {clearline.__version__}" in stderr


def test_a_usage_file_the_workers_cannot_read_is_e0510(
    tmp_path: Path, two_workers: LocalProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path: the client's folder has the file, the workers (started in
    another folder) do not; the diagnostic names the file and no run folder is left."""
    client = tmp_path / "client"
    client.mkdir()
    (client / "cdrs.csv").write_text(HEADER + cdr("A"), encoding="utf-8")
    done = cli(
        "-u", "cdrs.csv", "-o", "run", "--engine", "dask", "--scheduler", two_workers.address, cwd=client
    )
    assert done.returncode == 1, done.stderr
    assert f"error[{codes.INPUT_NOT_ON_WORKERS}]" in done.stderr
    assert "the usage file cdrs.csv cannot be read from the Dask worker(s) tcp://127.0.0.1:" in done.stderr
    assert not (client / "run").exists()


def test_the_client_never_reads_the_usage_files(tmp_path: Path, two_workers: LocalProcesses) -> None:
    """The other way round: a relative path that only the workers' folder has. The
    client's folder has no such file, yet the run settles -- the workers plan, hash
    and read it -- and the manifest records the file's SHA-256 as one process does."""
    name = f"only-on-workers-{os.getpid()}.csv"
    text = HEADER + cdr("A") + cdr("B") + cdr("A")  # line 4: a duplicate of line 2
    (two_workers.folder / name).write_text(text, encoding="utf-8")
    client = tmp_path / "client"
    client.mkdir()
    done = cli("-u", name, "-o", "run", "--engine", "dask", "--scheduler", two_workers.address, cwd=client)
    assert done.returncode == 3, done.stderr  # settled, with the duplicate rejected
    assert not (client / name).exists()
    (tmp_path / name).write_text(text, encoding="utf-8")
    plain = cli("-u", name, "-o", "run", cwd=tmp_path)
    assert plain.returncode == 3, plain.stderr
    # the manifest names each input by its absolute path too, which differs between the folders
    on_cluster, here = folder_bytes(client / "run"), folder_bytes(tmp_path / "run")
    manifests = [json.loads(f.pop("manifest.json")) for f in (on_cluster, here)]
    for m in manifests:
        for entry in m["inputs"]:
            entry.pop("absolute")
    assert on_cluster == here
    assert manifests[0] == manifests[1]
    [reject] = read_csv(client / "run" / "rejects.csv")
    assert (reject["line"], reject["record_id"]) == ("4", "A")


def test_the_cli_settles_against_the_ledger_on_the_cluster(
    tmp_path: Path, two_workers: LocalProcesses
) -> None:
    """`simulate --ledger URL --engine dask`: the ledger's settled ids and refund look-ups
    go to the workers with the plans. March closed M-1 and M-2 (10,000.00 each); April's
    file re-sends M-1 (a duplicate of the ledger's, in its own partition of about one
    record) and brings A-1 (7.00): the folder of the plain `simulate --ledger`, byte for
    byte, with M-1 rejected naming March's document."""
    from clearline.ledger import open_ledger
    from clearline.ledger.closing import close_run
    from ledger_support import HEADER as SALES_HEADER
    from ledger_support import SHARE_CONTRACT, sales

    contract = tmp_path / "share.contract"
    contract.write_text(SHARE_CONTRACT, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    march = tmp_path / "m.csv"
    march.write_text(sales("M", "2026-03", ["10000.00"] * 2), encoding="utf-8")
    plans, _ = clearline.load_plans([contract])
    clearline.run(plans, [march], "2026-03", out=tmp_path / "march")
    with open_ledger(url) as ledger:
        close_run(tmp_path / "march", ledger)
    april = tmp_path / "april.csv"
    april.write_text(
        SALES_HEADER
        + "M-1,2026-04-02T10:00:00+02:00,C2,sale,10000.00\nA-1,2026-04-03T10:00:00+02:00,C1,sale,7.00\n",
        encoding="utf-8",
    )
    base = [
        sys.executable,
        "-m",
        "clearline.cli",
        "simulate",
        str(contract),
        "-u",
        str(april),
        "-p",
        "2026-04",
    ]
    base += ["--ledger", url]
    plain = subprocess.run(
        [*base, "-o", str(tmp_path / "plain")], capture_output=True, text=True, check=False
    )
    assert plain.returncode == 3, plain.stderr  # completed, with a reject
    on_cluster = [*base, "-o", str(tmp_path / "dask"), "--engine", "dask", "--scheduler", two_workers.address]
    done = subprocess.run(
        [*on_cluster, "--partition-bytes", "1"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 3, done.stderr
    assert folder_bytes(tmp_path / "dask") == folder_bytes(tmp_path / "plain")
    (reject,) = read_csv(tmp_path / "dask" / "rejects.csv")
    assert reject["record_id"] == "M-1"
    assert reject["reason"].startswith(
        "duplicate record id: already settled in 2026-03, document INV/2026/03/"
    )


def test_increasing_ids_are_read_once_and_a_late_duplicate_falls_back(
    tmp_path: Path, two_workers: LocalProcesses
) -> None:
    """Ids R001..R012 in two files, in increasing order through both (parts of a
    record): the rating tasks alone run (no id scan, no first pass) and the folder is
    one process's. The same files with R003 read again as the 12th record of the
    second file: the partitions up to it are kept, the run falls back from there (the
    id scan and a first pass run) and rejects that record as one process does, naming
    where R003 was first read (a.csv line 4: the header is line 1)."""
    from distributed import get_task_stream

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(HEADER + "".join(cdr(f"R{i:03d}") for i in range(1, 7)), encoding="utf-8")
    b.write_text(HEADER + "".join(cdr(f"R{i:03d}") for i in range(7, 13)), encoding="utf-8")
    late = tmp_path / "late.csv"
    late.write_text(b.read_text(encoding="utf-8") + cdr("R003"), encoding="utf-8")
    for name, usage in (("in-order", [a, b]), ("late", [a, late])):
        settle_into(tmp_path / f"{name}-one", usage, workers=1)
        with connect(two_workers.address) as cluster, get_task_stream(cluster.client) as tasks:
            plans, _ = clearline.load_plans(CONTRACT_FILES)
            clearline.run(
                plans,
                usage,
                PERIOD,
                fx=DATA / "fx-rates.csv",
                customers=DATA / "customers.csv",
                out=tmp_path / f"{name}-dask",
                batch_size=2,
                cluster=cluster,
                partition_bytes=1,
            )
        assert folder_bytes(tmp_path / f"{name}-dask") == folder_bytes(tmp_path / f"{name}-one"), name
        ran = {task["key"].split("-")[0] for task in tasks.data}
        rated = sum(task["key"].startswith("rate_task") for task in tasks.data)
        if name == "in-order":
            assert "candidates_task" not in ran and "first_reads_task" not in ran
            assert rated == 12  # a partition per record, each rated once
        else:
            assert {"candidates_task", "first_reads_task"} <= ran
            assert rated > 13  # the kept partitions once, the rest twice
    (reject,) = read_csv(tmp_path / "late-dask" / "rejects.csv")
    assert (reject["record_id"], reject["line"]) == ("R003", "8")
    assert reject["reason"].endswith("a.csv:4")
