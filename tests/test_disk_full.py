"""A disk that fills up mid-run: the command says so, exits 1 without a
traceback, and leaves no folder that looks complete (no manifest, no
partial files); the next run into the same folder is whole.

A real failure, not a mock: a file size limit (RLIMIT_FSIZE: the write that
crosses it fails with "File too large", as a quota or a full disk would,
half-way through a file), at the first write, early and half-way. (Files
linked to /dev/full no longer reach the writer: it follows no symlink.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clearline.runtime.store.folder import MARKER
from conftest import CONTRACTS, DATA, PERIOD

resource = pytest.importorskip("resource")

USAGE = ["-u", str(DATA / "nordcarrier-cdrs.csv"), "-u", str(DATA / "streamplus-subscriptions.csv")]


def simulate(out: Path, *extra: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "clearline.cli", "simulate", str(CONTRACTS / "nordcarrier.contract")]
    command += [str(CONTRACTS / "streamplus.contract"), *USAGE, "-p", PERIOD, "-o", str(out), *extra]
    command += ["--fx", str(DATA / "fx-rates.csv")]

    def cap_file_size() -> None:  # in the child, before it starts
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=cap_file_size if limit is not None else None,
        env={**os.environ, "COLUMNS": "200"},
    )


def assert_not_complete(out: Path, done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "error[E0501]: cannot write the run folder" in done.stderr
    assert message in done.stderr
    assert not (out / "manifest.json").exists()
    # only the marker that says the folder is a run folder (and is its lock)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [MARKER]


@pytest.mark.parametrize("limit", [4096, 16_384])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_leaves_no_complete_looking_folder(tmp_path: Path, limit: int, workers: str) -> None:
    out = tmp_path / "run"
    assert simulate(out).returncode == 0  # a complete run first: its manifest must go
    done = simulate(out, "--workers", workers, limit=limit)
    assert_not_complete(out, done, "File too large")
    again = simulate(out, "--workers", workers)
    assert again.returncode == 0, again.stderr
    assert (out / "manifest.json").exists()


def test_a_write_cut_short_half_way_leaves_no_complete_looking_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    whole = tmp_path / "whole"
    assert simulate(whole).returncode == 0
    biggest = max(p.stat().st_size for p in whole.iterdir())
    # every file below the limit but the biggest: the run fails on its last part
    done = simulate(out, limit=biggest - 1)
    assert_not_complete(out, done, "File too large")
    assert simulate(out).returncode == 0
    assert (out / "manifest.json").read_bytes() == (whole / "manifest.json").read_bytes().replace(
        str(whole).encode(), str(out).encode()
    )
