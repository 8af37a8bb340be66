"""The ledger store on both back ends: opening, refusing what is not a ledger,
closing a period in one transaction, the hash chain, and numbering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from clearline import codes
from clearline.ledger import LedgerError, open_ledger
from clearline.ledger.closing import close_run
from clearline.ledger.schema import METADATA
from ledger_support import sales, settle_share


def _code(error: pytest.ExceptionInfo[LedgerError]) -> str:
    return error.value.diagnostics[0].code


def test_a_new_ledger_is_created_with_the_schema_of_the_migrations(ledger_url: str) -> None:
    """The migrations make exactly the tables of schema.py (Alembic compares them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with open_ledger(ledger_url) as ledger:
        assert ledger.closes() == []
        assert ledger.next_number("telcopl", "invoice") == 1
        with ledger.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), METADATA)
            assert diff == []
            assert MigrationContext.configure(conn).get_current_heads() == ("0008",)
    with open_ledger(ledger_url) as again:  # opening again migrates nothing
        assert again.verify() == []


def test_sqlite_ledger_is_in_wal_mode(tmp_path: Path) -> None:
    open_ledger(str(tmp_path / "ledger.sqlite")).dispose()  # a bare path is a SQLite file
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database at all, just some text that is long enough", encoding="utf-8")
    with pytest.raises(LedgerError) as error:
        open_ledger(f"sqlite:///{notes}")
    assert _code(error) == codes.NOT_A_LEDGER
    assert "not a SQLite database" in str(error.value)
    assert notes.read_text(encoding="utf-8").startswith("not a database")  # untouched


def test_another_database_is_refused_and_left_alone(ledger_url: str) -> None:
    engine = sa.create_engine(ledger_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id TEXT)"))
    engine.dispose()
    with pytest.raises(LedgerError) as error:
        open_ledger(ledger_url)
    assert _code(error) == codes.NOT_A_LEDGER
    assert "holds other tables (customers)" in str(error.value)


def test_a_ledger_of_a_newer_schema_is_refused(ledger_url: str) -> None:
    open_ledger(ledger_url).dispose()
    engine = sa.create_engine(ledger_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0042'"))
    engine.dispose()
    with pytest.raises(LedgerError) as error:
        open_ledger(ledger_url)
    assert _code(error) == codes.LEDGER_TOO_NEW
    assert "schema 0042, newer than this Clearline knows (up to 0008)" in str(error.value)


def test_an_unreachable_server_is_a_diagnostic() -> None:
    with pytest.raises(LedgerError) as error:
        open_ledger("postgresql://postgres@127.0.0.1:1/none")
    assert _code(error) == codes.LEDGER_UNREACHABLE
    with pytest.raises(LedgerError) as error:
        open_ledger("mysql://localhost/ledger")
    assert _code(error) == codes.LEDGER_UNREACHABLE


def test_close_writes_the_period_once_with_gapless_numbers(ledger_url: str, tmp_path: Path) -> None:
    """March: C1 buys 20,000.00 and C2 20,000.00 (net 40,000.00); the studio gets
    60% x 30,000.00 + 70% x 10,000.00 = 18,000.00 + 7,000.00 = 25,000.00."""
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["20000.00"] * 2)})
    with open_ledger(ledger_url) as ledger:
        closed = close_run(run, ledger)
        assert not closed.outcome.already and closed.outcome.seq == 1
        docs = {(d.kind, d.party): d for d in ledger.documents()}
        assert {k: (d.number, d.net) for k, d in docs.items()} == {
            ("invoice", "C1"): ("INV/2026/03/00001", "20000.00"),
            ("invoice", "C2"): ("INV/2026/03/00002", "20000.00"),
            ("self-billing", "studio"): ("SB/2026/03/00001", "25000.00"),
        }
        assert ledger.next_number("telcopl", "invoice") == 3
        settled = ledger.settled(["M-1", "M-2", "X-9"])
        assert sorted(settled) == ["M-1", "M-2"]
        assert settled["M-1"].describe() == (
            f"already settled in 2026-03, document INV/2026/03/00002 (run {run})"
        )  # M-1 is C2's (i % 2 + 1)
        (period,) = ledger.periods()
        assert (period.contract_id, period.period, period.close_seq) == ("RS-2026", "2026-03", 1)
        amounts = {(ln.kind, ln.party): ln.amount for ln in ledger.lines()}
        assert amounts[("retained", "telcopl")] == "15000.00"
        # the same run again: a no-op that says so
        again = close_run(run, ledger)
        assert again.outcome.already and again.outcome.seq == 1
        assert len(ledger.closes()) == 1 and len(ledger.documents()) == 3
        assert ledger.verify() == []


def test_april_numbers_go_on_from_march(ledger_url: str, tmp_path: Path) -> None:
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"] * 3)})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"] * 3)})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
        close_run(april, ledger)
        numbers = [d.number for d in ledger.documents()]
        assert numbers == [
            "INV/2026/03/00001",
            "INV/2026/03/00002",
            "SB/2026/03/00001",
            "INV/2026/04/00003",
            "INV/2026/04/00004",
            "SB/2026/04/00002",
        ]
        first, second = ledger.closes()
        assert second.prev_hash == first.hash
        assert ledger.verify() == []


def test_another_run_of_a_closed_period_is_refused(ledger_url: str, tmp_path: Path) -> None:
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    other = settle_share(tmp_path, "march-b", "2026-03", {"n.csv": sales("N", "2026-03", ["12.00"])})
    with open_ledger(ledger_url) as ledger:
        close_run(run, ledger)
        with pytest.raises(LedgerError) as error:
            close_run(other, ledger)
        assert _code(error) == codes.PERIOD_ALREADY_CLOSED
        assert f"RS-2026 2026-03 is already closed by the run {run} (close 1)" in str(error.value)
        hint = error.value.diagnostics[0].hint or ""
        assert "--ledger URL" in hint and "adjustment lines" in hint
        assert len(ledger.closes()) == 1 and ledger.settled(["N-1"]) == {}


def test_a_run_that_does_not_verify_is_not_closed(ledger_url: str, tmp_path: Path) -> None:
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    lines = run / "payout_lines.csv"
    lines.write_text(lines.read_text(encoding="utf-8").replace("6.00", "9.00"), encoding="utf-8")
    with open_ledger(ledger_url) as ledger:
        with pytest.raises(LedgerError) as error:
            close_run(run, ledger)
        assert _code(error) == codes.RUN_NOT_VERIFIED
        assert "payout_lines.csv (the file in the run folder was changed)" in str(error.value)
        assert ledger.closes() == []


def test_a_contract_edited_in_place_is_refused(ledger_url: str, tmp_path: Path) -> None:
    run = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    with open_ledger(ledger_url) as ledger:
        close_run(run, ledger)
        contract = tmp_path / "share.contract"
        contract.write_text(
            contract.read_text(encoding="utf-8").replace("at 60%", "at 65%"), encoding="utf-8"
        )
        edited = settle_share(
            tmp_path, "march-edited", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])}
        )
        with pytest.raises(LedgerError) as error:
            close_run(edited, ledger)
        assert _code(error) == codes.CONTRACT_CHANGED_IN_PLACE
        assert "contract RS-2026 version 1 was closed for 2026-03 with another plan" in str(error.value)


def test_verify_finds_an_edited_amount_and_a_broken_chain(ledger_url: str, tmp_path: Path) -> None:
    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"])})
    with open_ledger(ledger_url) as ledger:
        close_run(march, ledger)
        close_run(april, ledger)
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("UPDATE lines SET amount = '1.00' WHERE close_seq = 1 AND kind = 'payout'"))
        assert ledger.verify() == [
            f"close 1 (2026-03, run {march}): its documents, lines, records, partial sums or "
            "carried adjustments were changed after it was written"
        ]
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("UPDATE lines SET amount = '6.00' WHERE close_seq = 1 AND kind = 'payout'"))
            conn.execute(sa.text("UPDATE closes SET prev_hash = :h WHERE seq = 2"), {"h": "f" * 64})
        problems = ledger.verify()
        assert problems == [
            "close 2 does not follow the close before it (its prev_hash differs)",
            "close 2 (2026-04): its own fields were changed after it was written",
        ]


def test_partial_sums_are_kept_exactly(ledger_url: str, tmp_path: Path) -> None:
    """The line's exact sum (never rounded) is what the ledger keeps: 0.005 + 0.005 + 10.00."""
    run = settle_share(
        tmp_path,
        "march",
        "2026-03",
        {"m.csv": sales("M", "2026-03", ["0.005", "0.005", "10.00"], customers=1)},
    )
    with open_ledger(ledger_url) as ledger:
        close_run(run, ledger)
        rows = {json.loads(k)[0]: json.loads(d) for k, d in ledger.partials("RS-2026", "2026-03")}
        assert sorted(rows) == ["I", "P"]  # the charge line and the (line-level) share line
        assert rows["I"]["amount"] == "10.010" and rows["I"]["records"] == 3
        assert rows["P"]["net_base"] == "10.010"  # the share is priced from it when the period closes


def test_a_ledger_of_an_older_schema_is_migrated_and_its_history_verifies(
    ledger_url: str, tmp_path: Path
) -> None:
    """A ledger taken back to schema 0001 (by Alembic's downgrade) is migrated to 0003
    when this Clearline opens it; closes then write and verify as on a new ledger."""
    from alembic import command
    from alembic.config import Config

    from clearline.ledger.connect import MIGRATIONS

    march = settle_share(tmp_path, "march", "2026-03", {"m.csv": sales("M", "2026-03", ["10.00"])})
    april = settle_share(tmp_path, "april", "2026-04", {"a.csv": sales("A", "2026-04", ["10.00"])})
    with open_ledger(ledger_url) as ledger:
        with ledger.engine.begin() as conn:  # back to the first schema, as an older Clearline left it
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        assert sorted(sa.inspect(ledger.engine).get_table_names()) == [
            "alembic_version",
            "clearline_meta",
            "closes",
            "documents",
            "lines",
            "numbering",
            "partials",
            "periods",
            "records",
        ]
        with ledger.engine.begin() as conn:  # a close as schema 0001 wrote it: no refunds column
            conn.execute(sa.text("SELECT record_id, close_seq, period, document FROM records"))
    with open_ledger(ledger_url) as ledger:  # migrated on open
        close_run(march, ledger)
    with open_ledger(ledger_url) as ledger:
        with ledger.engine.connect() as conn:
            from alembic.runtime.migration import MigrationContext

            assert MigrationContext.configure(conn).get_current_heads() == ("0008",)
        close_run(april, ledger)
        assert ledger.verify() == []


def test_columns_and_tables_of_later_schemas_do_not_change_older_digests() -> None:
    """A close written before records.refunds (0002) and close_contracts (0003) existed
    hashed its rows without them; read back after the migrations, the unset column ("")
    and the empty table leave its digest as it was."""
    from clearline.ledger import chain

    before = chain.content_sha256([], [], [{"record_id": "R-1", "close_seq": 1}], [], [])
    after = chain.content_sha256([], [], [{"record_id": "R-1", "close_seq": 1, "refunds": ""}], [], [], [])
    assert after == before
    refunded = chain.content_sha256([], [], [{"record_id": "R-1", "close_seq": 1, "refunds": "M-2"}], [], [])
    assert refunded != before
