"""Closing with real processes: `clearline close` at the command line, two closes of
one period at once (exactly one wins, numbering stays gapless), and a close killed
with SIGKILL in the middle of its transaction (the ledger is left exactly as before).

The middle of a transaction is reached through the store's fault-injection
point (`store.FAULT_PAUSE`): the close writes its process id to a file once
its documents and lines are written, and waits there until the file goes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clearline import codes
from clearline.ledger import open_ledger
from clearline.ledger.store import FAULT_PAUSE
from ledger_support import sales, settle_share


def _close(run: Path, url: str, pause: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "CLEARLINE_LEDGER": url}
    env.pop(FAULT_PAUSE, None)
    if pause is not None:
        env[FAULT_PAUSE] = str(pause)
    return subprocess.Popen(
        [sys.executable, "-m", "clearline.cli", "close", str(run)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the close ended before its pause: {process.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the close never reached its pause")
        time.sleep(0.02)


def _snapshot(url: str) -> tuple[object, ...]:
    with open_ledger(url) as ledger:
        return (
            [tuple(c) for c in ledger.closes()],
            [tuple(d) for d in ledger.documents()],
            [tuple(ln) for ln in ledger.lines()],
            [tuple(p) for p in ledger.periods()],
            ledger.next_number("telcopl", "invoice"),
            ledger.next_number("telcopl", "self-billing"),
        )


def test_close_at_the_command_line(ledger_url: str, tmp_path: Path) -> None:
    """Two customers' 20.00 each: invoices INV/2026/03/00001 and 00002, the studio's 60% = 24.00."""
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["20.00", "20.00"])})
    first = _close(run, ledger_url)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "closed 2026-03: close 1, 3 document(s), 4 line(s), 2 record id(s)" in out
    assert "INV/2026/03/00001" in out and "SB/2026/03/00001" in out and "24.00" in out
    again = _close(run, ledger_url)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"{run} is already closed (close 1, 2026-03): nothing written" in out


def test_two_closes_of_one_period_at_once_one_wins(ledger_url: str, tmp_path: Path) -> None:
    """A holds the write lock mid-close while B starts; B waits, then finds March closed."""
    run_a = settle_share(tmp_path, "a", "2026-03", {"a.csv": sales("A", "2026-03", ["10.00"] * 2)})
    run_b = settle_share(tmp_path, "b", "2026-03", {"b.csv": sales("B", "2026-03", ["11.00"] * 2)})
    pause = tmp_path / "paused"
    a = _close(run_a, ledger_url, pause)
    _wait_for(pause, a)
    b = _close(run_b, ledger_url)
    time.sleep(1.5)
    assert b.poll() is None  # waiting for A's lock
    pause.unlink()
    _, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 1, out_b
    assert (
        f"error[{codes.PERIOD_ALREADY_CLOSED}]: RS-2026 2026-03 is already closed by the run {run_a}" in err_b
    )
    with open_ledger(ledger_url) as ledger:
        assert [d.number for d in ledger.documents()] == [
            "INV/2026/03/00001",
            "INV/2026/03/00002",
            "SB/2026/03/00001",
        ]
        assert sorted(ledger.settled(["A-1", "A-2", "B-1", "B-2"])) == ["A-1", "A-2"]
        assert ledger.verify() == []


def test_closes_of_two_periods_at_once_number_without_gaps(ledger_url: str, tmp_path: Path) -> None:
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"] * 2)})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"] * 2)})
    pause = tmp_path / "paused"
    a = _close(march, ledger_url, pause)
    _wait_for(pause, a)
    b = _close(april, ledger_url)
    time.sleep(1.0)
    pause.unlink()
    assert a.wait(timeout=120) == 0 and b.wait(timeout=120) == 0
    with open_ledger(ledger_url) as ledger:
        numbers = sorted((d.series, d.seq) for d in ledger.documents())
        invoices = [("invoice", n) for n in range(1, 5)]
        assert numbers == [*invoices, ("self-billing", 1), ("self-billing", 2)]
        assert [c.period for c in ledger.closes()] == ["2026-03", "2026-04"]
        assert ledger.verify() == []


def test_a_close_killed_mid_transaction_leaves_the_ledger_as_it_was(ledger_url: str, tmp_path: Path) -> None:
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"] * 2)})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"] * 2)})
    assert _close(march, ledger_url).wait(timeout=120) == 0
    before = _snapshot(ledger_url)
    pause = tmp_path / "paused"
    victim = _close(april, ledger_url, pause)
    _wait_for(pause, victim)  # its documents and lines are written, not committed
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    pause.unlink()
    assert _snapshot(ledger_url) == before
    with open_ledger(ledger_url) as ledger:
        assert ledger.verify() == []
        assert ledger.settled(["A-1"]) == {}
    # the same close again, whole: the numbers the killed close took are free again
    retry = _close(april, ledger_url)
    _, err = retry.communicate(timeout=120)
    assert retry.returncode == 0, err
    with open_ledger(ledger_url) as ledger:
        assert [d.number for d in ledger.documents()][-3:] == [
            "INV/2026/04/00003",
            "INV/2026/04/00004",
            "SB/2026/04/00002",
        ]
        assert ledger.verify() == []


def test_ledger_commands(ledger_url: str, tmp_path: Path) -> None:
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["20000.00"] * 2)})
    assert _close(run, ledger_url).wait(timeout=120) == 0

    def ledger(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clearline.cli", "ledger", ledger_url, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    periods = ledger("periods")
    assert periods.returncode == 0, periods.stderr
    assert "RS-2026" in periods.stdout and "40,000.00 PLN" in periods.stdout
    assert "25,000.00 PLN" in periods.stdout and "15,000.00 PLN" in periods.stdout
    docs = ledger("documents")
    assert "INV/2026/03/00002" in docs.stdout and "3 document(s)" in docs.stdout
    shown = ledger("show", "SB/2026/03/00001")
    assert shown.returncode == 0 and "self-billing for studio" in shown.stdout and "25,000.00" in shown.stdout
    missing = ledger("show", "SB/2026/03/00009")
    assert missing.returncode == 1
    assert (
        f"error[{codes.UNKNOWN_DOCUMENT}]: the ledger" in missing.stderr and "Traceback" not in missing.stderr
    )
    verified = ledger("verify")
    assert verified.returncode == 0 and "ledger verified: 1 close(s) chained" in verified.stdout


def test_a_bad_ledger_at_the_command_line_is_a_diagnostic(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: milk, eggs, bread, and not a database", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "clearline.cli", "ledger", str(notes), "periods"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        f"error[{codes.NOT_A_LEDGER}]: {notes} is not a Clearline ledger (not a SQLite database)"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
