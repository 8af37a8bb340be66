"""Writing a run folder safely: a planted symlink, a second run, a folder of
someone else's files, stale documents, spreadsheet formulas in text cells."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.runtime.store.run_folder import RunWriter
from conftest import CONTRACTS, DATA, PERIOD, read_csv

NORD = ["simulate", str(CONTRACTS / "nordcarrier.contract"), "-u", str(DATA / "nordcarrier-cdrs.csv")]
NORD += ["-p", PERIOD]


def simulate(out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*NORD, "--out", str(out), *extra])
    return result.exit_code, result.output


def test_a_planted_symlink_does_not_redirect_a_write(tmp_path: Path) -> None:
    """Symlinks named like every temporary file the old writer used, and like the
    outputs, point at a file of the user's: the run replaces none of it."""
    out = tmp_path / "run"
    assert simulate(out)[0] == 0
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    names = [p.name for p in out.iterdir() if p.is_file()]
    for name in names:
        (out / f".{name}.partial").symlink_to(victim)
    (out / "rated_records.csv").unlink()
    (out / "rated_records.csv").symlink_to(victim)
    code, output = simulate(out)
    assert code == 0, output
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not (out / "rated_records.csv").is_symlink()
    assert read_csv(out / "rated_records.csv")[0]["record_id"].startswith("CDR-")


def test_a_second_run_into_a_folder_in_use_fails_at_once(tmp_path: Path) -> None:
    """While one run holds the folder (a RunWriter is open), a second simulate into
    it stops at once with E0520 and leaves the first run's files alone."""
    out = tmp_path / "run"
    writer = RunWriter(out)
    try:
        code, output = simulate(out)
        assert code == 1
        assert "error[E0520]" in output and "another run is writing" in output
        assert not (out / "manifest.json").exists()
    finally:
        writer.abort()
    assert simulate(out)[0] == 0  # the lock goes with the run


def test_a_folder_of_other_files_is_refused_without_force(tmp_path: Path) -> None:
    """--out on a folder holding files no run wrote: refused (E0521), every file kept;
    with --force the run goes ahead."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "payout_lines.csv").write_text("my own spreadsheet\n", encoding="utf-8")
    (out / "routed-2026-04.jsonl").write_text("{}\n", encoding="utf-8")
    code, output = simulate(out)
    assert code == 1
    assert "error[E0521]" in output and "--force" in output
    assert (out / "payout_lines.csv").read_text(encoding="utf-8") == "my own spreadsheet\n"
    assert (out / "routed-2026-04.jsonl").exists()
    assert not (out / "manifest.json").exists()
    code, output = simulate(out, "--force")
    assert code == 0, output
    assert (out / "manifest.json").exists()


def test_an_empty_folder_and_an_earlier_run_are_accepted(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert simulate(out)[0] == 0
    assert simulate(out)[0] == 0  # a run folder: a new run replaces it


def test_a_new_run_removes_the_old_documents(tmp_path: Path) -> None:
    """A statement rendered from an earlier run must not stand beside a new one."""
    out = tmp_path / "run"
    assert simulate(out)[0] == 0
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 0
    assert any((out / "documents").iterdir())
    assert simulate(out)[0] == 0
    assert not (out / "documents").exists()


def test_verify_finds_documents_of_another_run(tmp_path: Path) -> None:
    """Documents record the SHA-256 of the manifest they were rendered from; verify
    fails (E0523) on documents of an earlier run copied back, and on an edited one."""
    out = tmp_path / "run"
    assert simulate(out)[0] == 0
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 0
    index = json.loads((out / "documents" / "documents.json").read_text(encoding="utf-8"))
    assert index["manifest_sha256"] == clearline.runtime.store.run_folder.sha256_file(out / "manifest.json")
    ok = CliRunner().invoke(app, ["verify", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "document(s) rendered from this manifest" in ok.output
    old = tmp_path / "old-documents"
    shutil.copytree(out / "documents", old)
    # a new run with other usage: fewer records
    usage = tmp_path / "few.csv"
    lines = (DATA / "nordcarrier-cdrs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    usage.write_text("".join(lines[:3]), encoding="utf-8")
    command = [*NORD[:2], "-u", str(usage), "-p", PERIOD, "--out", str(out)]
    assert CliRunner().invoke(app, command).exit_code in (0, 3)
    shutil.copytree(old, out / "documents")
    stale = CliRunner().invoke(app, ["verify", str(out)])
    assert stale.exit_code == 1
    assert "error[E0523]" in stale.output and "another manifest" in stale.output
    # rendered again, then one document edited
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 0
    statement = next((out / "documents").glob("self-billing-*.md"))
    statement.write_text(statement.read_text(encoding="utf-8") + "forged\n", encoding="utf-8")
    edited = CliRunner().invoke(app, ["verify", str(out)])
    assert edited.exit_code == 1
    assert f"error[E0523]: documents/{statement.name} was changed" in edited.output


def test_formulas_in_text_cells_are_neutralised_in_csv_only(tmp_path: Path) -> None:
    """A record id `=HYPERLINK(...)` and one starting `@`, `+`, `-`: the CSV files a
    spreadsheet opens carry them with a leading apostrophe; the JSON Lines files carry
    them as read. Amounts (numbers, also negative ones) and a plain number (`+1`) are
    left alone."""
    usage = tmp_path / "cdrs.csv"
    header = (DATA / "nordcarrier-cdrs.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    first = dict(
        zip(columns, (DATA / "nordcarrier-cdrs.csv").read_text().splitlines()[1].split(","), strict=True)
    )
    rows = []
    for rid in ('=HYPERLINK("http://x")', "@SUM(A1)", "+1", "-2+3", "\tTAB"):
        quoted = '"' + rid.replace('"', '""') + '"'
        rows.append(",".join(quoted if c == "record_id" else first[c] for c in columns))
    usage.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [*NORD[:2], "-u", str(usage), "-p", PERIOD, "--out", str(out)])
    assert result.exit_code in (0, 3), result.output
    ids = [r["record_id"] for r in read_csv(out / "rated_records.csv")]
    ids += [r["record_id"] for r in read_csv(out / "rejects.csv")]
    assert set(ids) == {'\'=HYPERLINK("http://x")', "'@SUM(A1)", "+1", "'-2+3", "'\tTAB"}
    raw = [json.loads(t)["record_id"] for t in (out / "rated_records.jsonl").open(encoding="utf-8")]
    raw += [json.loads(t)["record_id"] for t in (out / "rejects.jsonl").open(encoding="utf-8")]
    assert set(raw) == {'=HYPERLINK("http://x")', "@SUM(A1)", "+1", "-2+3", "\tTAB"}
    assert CliRunner().invoke(app, ["verify", str(out)]).exit_code == 0
    # the documents show the values as read (they read the JSON Lines files)
    assert CliRunner().invoke(app, ["report", str(out), "--format", "md"]).exit_code == 0
    audit = (out / "documents" / "audit-2026-03.md").read_text(encoding="utf-8")
    assert "@SUM(A1)" in audit and "'@SUM(A1)" not in audit


def test_negative_amounts_are_not_quoted(march_run: Path) -> None:
    withholding = [r for r in read_csv(march_run / "payout_lines.csv") if r["kind"] == "withholding"]
    amounts = [r["amount"] for r in read_csv(march_run / "payout_lines.csv")]
    assert not any(a.startswith("'") for a in amounts)
    assert all(r["amount"].startswith("-") for r in withholding)


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="O_NOFOLLOW is POSIX")
def test_temporary_names_are_unpredictable(tmp_path: Path) -> None:
    a, b = RunWriter(tmp_path / "a"), RunWriter(tmp_path / "b")
    try:
        assert a.temporary("rated_records.csv").name != b.temporary("rated_records.csv").name
    finally:
        a.abort()
        b.abort()
