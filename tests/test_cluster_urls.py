"""Usage files named by URL (runtime.inputs.locations, through fsspec): `file://` on a
real scheduler and two worker processes, `memory://` on an in-process cluster, and
the same URLs in one process; a URL the workers cannot open is E0510, naming why,
with no run folder; `verify` opens a URL input again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the cluster extra (dask, distributed) is not installed")
pytest.importorskip("fsspec", reason="fsspec (the cluster extra) is not installed")

import fsspec

import clearline
from clearline import codes
from clearline.runtime.dask_client import Cluster, connect
from clearline.verify import verify_run
from cluster_support import LocalProcesses, scheduler_process
from conftest import CONTRACTS, DATA, PERIOD
from test_cluster import cli, usage_files
from test_workers import HEADER, cdr, folder_bytes

CONTRACT_FILES = [CONTRACTS / "nordcarrier.contract", CONTRACTS / "streamplus.contract"]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcesses]:
    with scheduler_process(tmp_path_factory.mktemp("cluster-urls")) as cluster:
        cluster.add_worker()
        cluster.add_worker()
        cluster.wait_for_workers(2)
        yield cluster


def settle(usage: list[str | Path], out: Path, cluster: Cluster | None = None) -> clearline.Settlement:
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    return clearline.run(
        plans,
        usage,
        PERIOD,
        fx=DATA / "fx-rates.csv",
        customers=DATA / "customers.csv",
        out=out,
        batch_size=2,
        cluster=cluster,
        partition_bytes=64 if cluster is not None else None,
    )


def test_file_urls_settle_as_their_paths_in_one_process_and_on_the_cluster(
    tmp_path: Path, two_workers: LocalProcesses
) -> None:
    """The tricky files (duplicates across files and partitions, quoted line breaks,
    rejects, an unmatched record, subscriptions, Parquet) named by `file://` URL: one
    process and `simulate --engine dask` on two worker processes (parts of 64 bytes,
    byte ranges read through fsspec) write the same folder, byte for byte; and that
    folder is the one of the plain paths but for the names (rejects' `file`, the
    manifest's `path` and `absolute`), the URL where the path was. `verify` re-reads
    the URLs and finds the run whole."""
    files = usage_files(tmp_path)
    urls = [f"file://{p}" for p in files]
    settle(list(files), tmp_path / "paths")
    settle(list(urls), tmp_path / "one")
    usage = [arg for url in urls for arg in ("-u", url)]
    done = cli(*usage, "-o", tmp_path / "dask", "--engine", "dask", "--scheduler", two_workers.address)
    assert done.returncode == 3, done.stderr  # settled, with rejects
    assert folder_bytes(tmp_path / "dask") == folder_bytes(tmp_path / "one")
    by_path, by_url = folder_bytes(tmp_path / "paths"), folder_bytes(tmp_path / "one")
    manifests = [json.loads(f.pop("manifest.json")) for f in (by_path, by_url)]
    assert {n: b.replace(b"file://", b"") for n, b in by_url.items()} == by_path
    usage_in = [[i for i in m["inputs"] if i["role"] == "usage"] for m in manifests]
    assert [i["sha256"] for i in usage_in[0]] == [i["sha256"] for i in usage_in[1]]
    assert [(i["path"], i["absolute"]) for i in usage_in[1]] == [(u, u) for u in urls]
    checked = verify_run(tmp_path / "dask")
    assert (checked.changed_inputs, checked.differing_outputs, checked.wrong_claims) == ([], [], [])


def test_memory_urls_on_an_in_process_cluster_read_byte_ranges(tmp_path: Path) -> None:
    """`memory://` files (fsspec's in-memory file system, an object store in one
    process): a cluster of two worker threads in this process reads their byte
    ranges (parts of 64 bytes) and writes the folder one process writes from the
    same URLs."""
    from distributed import Client, LocalCluster

    memory = fsspec.filesystem("memory")
    urls: list[str | Path] = []
    for path in usage_files(tmp_path):
        name = f"memory://clearline-test-{tmp_path.name}/{path.name}"
        memory.pipe_file(name, path.read_bytes())
        urls.append(name)
    settle(urls, tmp_path / "one")
    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    try:
        client = Client(local, set_as_default=False)
        settle(urls, tmp_path / "dask", Cluster(client, local, 2))
        client.close()
    finally:
        local.close()
        memory.rm(f"memory://clearline-test-{tmp_path.name}", recursive=True)
    assert folder_bytes(tmp_path / "dask") == folder_bytes(tmp_path / "one")


def test_a_url_the_workers_cannot_open_is_e0510_and_no_run_folder(
    tmp_path: Path, two_workers: LocalProcesses
) -> None:
    """A `memory://` file exists in this process only: the worker processes cannot
    open it. The diagnostic names the file, the workers and their reason."""
    name = f"memory://clearline-test-{tmp_path.name}/cdrs.csv"
    fsspec.filesystem("memory").pipe_file(name, (HEADER + cdr("A")).encode())
    try:
        with pytest.raises(clearline.ClearlineError) as caught, connect(two_workers.address) as cluster:
            settle([name], tmp_path / "run", cluster)
    finally:
        fsspec.filesystem("memory").rm(f"memory://clearline-test-{tmp_path.name}", recursive=True)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == codes.INPUT_NOT_ON_WORKERS
    assert diagnostic.message.startswith(
        f"the usage file {name} cannot be read from the Dask worker(s) tcp://"
    )
    assert "FileNotFoundError" in diagnostic.message
    assert diagnostic.hint is not None and "memory:// file lives in one process only" in diagnostic.hint
    assert not (tmp_path / "run").exists()


def test_a_url_of_a_file_system_not_installed_is_a_diagnostic(tmp_path: Path) -> None:
    """An unknown scheme, and one whose package is missing (`s3fs` is not installed
    here): `simulate` says so, no traceback, no complete run (as for a path that is
    not there: the folder claimed, no manifest)."""
    try:
        import s3fs  # noqa: F401

        schemes = ["nosuchfs://bucket/cdrs.csv"]
    except ImportError:
        schemes = ["nosuchfs://bucket/cdrs.csv", "s3://bucket/cdrs.csv"]
    for url in schemes:
        done = cli("-u", url, "-o", tmp_path / "run")
        assert done.returncode == 1, done.stderr
        assert f"error[{codes.UNREADABLE_INPUT}]: cannot read {url}" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "run" / "manifest.json").exists()


def test_the_columnar_engine_refuses_a_url(tmp_path: Path) -> None:
    """polars reads local blocks: a URL with `--engine columnar` is E0505, saying what does read it."""
    usage = tmp_path / "cdrs.csv"
    usage.write_text(HEADER + cdr("A"), encoding="utf-8")
    plans, _ = clearline.load_plans(CONTRACT_FILES)
    with pytest.raises(clearline.ClearlineError) as caught:
        clearline.run(plans, [f"file://{usage}"], PERIOD, out=tmp_path / "run", engine="columnar")
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == codes.BAD_OPTION
    assert diagnostic.message == f"--engine columnar reads local files; file://{usage} is a URL"
    assert not (tmp_path / "run").exists()
