"""`clearline serve` against a real server process on loopback, httpx as the client:
rating and idempotency, mixed batches, the edge's 4xx answers, hot-loaded contracts,
concurrent clients, kill -9 and restart, and the differential close (the period
closed from what the service accepted is byte for byte `simulate` over those records)."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline import codes
from clearline.service import models
from serve_support import CONTRACTS, DATA, TOKEN, Server, all_rows, rows

CDR_1 = rows("nordcarrier-cdrs.csv")[0]  # CDR-0001: 61 s to 4860123456


@pytest.fixture
def server(tmp_path: Path) -> Any:
    s = Server(tmp_path, str(tmp_path / "ledger.db")).start()
    yield s
    s.stop()


def test_a_record_rates_as_the_contract_says_and_a_retry_is_a_duplicate(server: Server) -> None:
    """CDR-0001, 61 s to prefix 4860 at 0.0150 EUR/min, increments 30/6, connect fee 0.0010:
    billed 30 + ceil(31/6) x 6 = 66 s; 66 x 0.0150 / 60 + 0.0010 = 0.0175 EUR (a decimal string).
    Sent again it is the duplicate the batch readers report, and not accepted twice."""
    first = server.post([CDR_1])
    assert first[0]["status"] == "rated" and first[0]["accepted"] is True
    assert first[0]["rated"] == [
        {
            "line_id": first[0]["rated"][0]["line_id"],
            "kind": "payout",
            "product": "voice",
            "party": "nordcarrier",
            "clause": "5.1 Termination rates",
            "billed_quantity": "66",
            "amount": "0.0175",
        }
    ]
    again = server.post([CDR_1])
    assert again[0]["status"] == "rejected" and again[0]["accepted"] is False
    assert again[0]["reason"] == "duplicate record id: first read at intake-2026-03.jsonl:1"
    assert again[0]["code"] == codes.REJECT_DUPLICATE and first[0]["code"] == ""
    with server.client() as c:
        payout = c.get("/v1/parties/nordcarrier/periods/2026-03").json()
    # one record on the line: 0.0175 rounded per line half up to 0.01 -> 0.02
    assert [(ln["amount"], ln["records"]) for ln in payout["lines"]] == [("0.02", "1")]
    assert payout["traces"][0]["line_id"] == payout["lines"][0]["line_id"]


def test_a_mixed_batch_is_answered_record_by_record(server: Server) -> None:
    bad_qty = {**CDR_1, "record_id": "BAD-1", "quantity": "abc"}
    no_ts = {**CDR_1, "record_id": "BAD-2", "timestamp": ""}
    nothing = {**CDR_1, "record_id": "ODD-1", "service": "fax"}
    good = rows("nordcarrier-cdrs.csv")[1]
    out = server.post([bad_qty, no_ts, nothing, good])
    assert [(r["record_id"], r["status"], r["accepted"]) for r in out] == [
        ("BAD-1", "rejected", True),  # a close settles it as simulate does: a reject in rejects.csv
        ("BAD-2", "rejected", False),
        ("ODD-1", "unmatched", True),
        ("CDR-0002", "rated", True),
    ]
    assert out[0]["reason"] == "`quantity`: 'abc' is not a number" and out[0]["field"] == "quantity"
    assert out[1]["reason"] == "the record has no timestamp"
    assert out[2]["reason"] == "no product of any contract matches this record"
    # the codes rejects.csv gives the same records (tests/test_schemas.py)
    assert [r["code"] for r in out] == [
        codes.REJECT_NOT_A_NUMBER,
        codes.REJECT_NO_TIMESTAMP,
        codes.UNMATCHED_NO_PRODUCT,
        "",
    ]
    with server.client() as c:  # the answer, built by hand for speed, fits its model
        answer = c.post("/v1/usage", json={"records": [bad_qty, no_ts, nothing, good]}).json()
    assert models.UsageResponse.model_validate(answer, strict=True).rejected == 2 + 2  # retries: duplicates
    nul = server.post([{**CDR_1, "record_id": "NUL-1", "service": "voice\x00out"}])
    assert (nul[0]["code"], nul[0]["accepted"]) == (codes.REJECT_NUL_FIELD, False)
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert f'clearline_records_total{{code="{codes.REJECT_NOT_A_NUMBER}",status="rejected"}} 1.0' in metrics


def test_the_edge_answers_4xx_with_a_reason_per_field(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.post("/v1/usage", json={"records": [CDR_1]}).status_code == 401
    with server.client() as c:
        broken = c.post("/v1/usage", content=b'{"records": [', headers={"content-type": "application/json"})
        assert broken.status_code == 400 and broken.json()["errors"][0]["field"] == "body"
        typed = c.post("/v1/usage", json={"records": [{**CDR_1, "quantity": 61}]})
        assert typed.status_code == 422
        assert [e["field"] for e in typed.json()["errors"]] == ["records.0.quantity"]
        unknown = c.post("/v1/usage", json={"records": [CDR_1], "extra": "x"})
        assert [e["field"] for e in unknown.json()["errors"]] == ["extra"]
        money = c.post("/v1/usage", content=b'{"records": [{"amount": 1.5}]}')
        assert money.status_code == 422 and "decimal text" in money.json()["errors"][0]["reason"]
        big = c.post("/v1/usage", content=b" " * (5 * 1024 * 1024))
        assert big.status_code == 413
        # sent in chunks, with no length declared: refused while it is read, past 4 MiB
        chunked = c.post(
            "/v1/usage", content=iter([b" " * 65536] * 80), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413 and "larger than" in chunked.json()["error"]
        many = c.post("/v1/usage", json={"records": [CDR_1] * 1001})
        assert many.status_code == 422 and many.json()["errors"][0]["field"] == "records"
        for answer in (broken, typed, unknown, money, big, many):
            assert "Traceback" not in answer.text
        assert c.get("/v1/lines/P-0000000000/explain").status_code == 404
        # a period no contract settles (found by schemathesis: it was a 500)
        period = c.get("/v1/customers/C-1001/periods/0")
        assert period.status_code == 422 and period.json()["errors"][0]["field"] == "period"
        assert "is not a monthly period" in period.json()["errors"][0]["reason"]
        schema = c.get("/openapi.json").json()
        assert "/v1/usage" in schema["paths"] and "UsageRequest" in schema["components"]["schemas"]
        assert "clearline_records_total" in c.get("/metrics").text
    # started without --host: it listens on 127.0.0.1 only (127.0.0.2 is loopback too, not bound)
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", server.port), timeout=5).close()


def test_a_contract_loaded_while_running_rates_the_next_records(tmp_path: Path) -> None:
    """Started with NordCarrier only, a DCB purchase matches nothing; once gamestudio.contract
    is loaded (validated first: a broken one is refused with its diagnostics) it rates."""
    s = Server(tmp_path, str(tmp_path / "ledger.db"), [CONTRACTS / "nordcarrier.contract"]).start()
    try:
        purchase, later = rows("dcb-purchases.csv")[:2]
        assert s.post([purchase])[0]["status"] == "unmatched"
        text = (CONTRACTS / "gamestudio.contract").read_text(encoding="utf-8")
        with s.client() as c:
            refused = c.post(
                "/v1/contracts", json={"name": "broken.contract", "text": text.replace("{", "", 1)}
            )
            assert refused.status_code == 422
            diagnostic = refused.json()["diagnostics"][0]
            assert diagnostic["code"].startswith("E") and diagnostic["span"].startswith(str(tmp_path))
            loaded = c.post("/v1/contracts", json={"name": "gamestudio.contract", "text": text})
            assert loaded.status_code == 200 and loaded.json()["loaded"] is True
            ids = {v["contract_id"] for v in c.get("/v1/contracts").json()["contracts"]}
        assert len(ids) == 2
        assert s.post([later])[0]["status"] == "rated"
    finally:
        s.stop()


def test_concurrent_clients_are_each_answered_and_nothing_is_lost(server: Server) -> None:
    records = all_rows()[:60]
    records = [r for r in records if "SP-" not in str(r["record_id"])]
    parts = [records[i::4] for i in range(4)]
    answers: list[list[dict[str, Any]]] = [[] for _ in parts]

    def send(i: int) -> None:
        for record in parts[i]:
            answers[i] += server.post([record])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(a) for a in answers) == len(records)
    assert all(r["status"] != "rejected" for a in answers for r in a)
    assert {r["record_id"] for a in answers for r in a} == {r["record_id"] for r in records}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from clearline.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _stream(seed: int) -> list[dict[str, str | None]]:
    """Usage rows in a random order, with retries of some and a few bad records."""
    rng = random.Random(seed)
    stream = all_rows()
    rng.shuffle(stream)
    for _ in range(5):
        stream.insert(rng.randrange(len(stream)), dict(rng.choice(stream)))
    stream.insert(rng.randrange(len(stream)), {**CDR_1, "record_id": "BAD-Q", "quantity": "x"})
    return stream


def _batches(stream: list[dict[str, str | None]], rng: random.Random) -> list[list[dict[str, str | None]]]:
    out, i = [], 0
    while i < len(stream):
        n = rng.choice([1, 1, 2, 5, 17, 40])
        out.append(stream[i : i + n])
        i += n
    return out


def test_close_from_the_service_is_simulate_over_what_it_accepted(tmp_path: Path, ledger_url: str) -> None:
    """On each back end a random stream (seed 1 on SQLite, 2 on PostgreSQL) in random batches,
    StreamPlus's lifecycle events among them: activations from November to February are
    accepted for their own periods, February is closed first, and March's close still
    counts those subscribers active in March, as `simulate` over every accepted record
    (in arrival order) does."""
    seed = 1 if ledger_url.startswith("sqlite") else 2
    fx = tmp_path / "fx-rates.csv"  # February's close converts at its period end's rate too
    fx.write_text((DATA / "fx-rates.csv").read_text(encoding="utf-8") + "2026-02-28,EUR,PLN,4.3000\n")
    s = Server(tmp_path, ledger_url, fx=fx).start()
    accepted: list[dict[str, Any]] = []
    periods: set[str] = set()
    try:
        for batch in _batches(_stream(seed), random.Random(seed)):
            for record, result in zip(batch, s.post(batch), strict=True):
                if result["accepted"]:
                    accepted.append(record)
                    periods.add(result["period"])
        with s.client() as c:
            bill = c.get("/v1/customers/B-2001/periods/2026-03").json()
            subscriber = c.get("/v1/customers/C-1001/periods/2026-03").json()
    finally:
        s.stop()
    assert {"2025-11", "2026-01", "2026-02", "2026-03"} <= periods
    february = _cli(
        "close", "--period", "2026-02", "--ledger", ledger_url, "--out", str(tmp_path / "feb"), cwd=tmp_path
    )
    assert february.returncode == 0, february.stderr
    closed = _cli(
        "close",
        "--period",
        "2026-03",
        "--ledger",
        ledger_url,
        "--out",
        str(tmp_path / "closed"),
        cwd=tmp_path,
    )
    assert closed.returncode == 0, closed.stderr
    usage = tmp_path / "arrival.jsonl"
    usage.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in accepted), encoding="utf-8")
    simulated = _cli(
        "simulate",
        str(CONTRACTS),
        "--usage",
        str(usage),
        "--period",
        "2026-03",
        "--fx",
        str(fx),
        "--customers",
        str(DATA / "customers.csv"),
        "--out",
        str(tmp_path / "batch"),
        cwd=tmp_path,
    )
    assert simulated.returncode in (0, 3), simulated.stderr
    for folder in ("closed", "batch"):
        assert _cli("report", str(tmp_path / folder), cwd=tmp_path).returncode == 0
    a, b = tmp_path / "closed", tmp_path / "batch"
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    compared = [
        n
        for n in names
        # documents.json holds the manifest's SHA-256, which names the inputs
        if not n.startswith(
            ("manifest", "rejects", "ledger_prior", "documents/audit", "documents/documents.json")
        )
    ]
    assert {"invoice_lines.csv", "rated_records.csv", "trace.jsonl"} <= set(compared)
    assert any(n.startswith("documents/") for n in compared)
    for name in compared:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # the bill so far, before the close, was the invoice the close issued
    issued = [json.loads(t) for t in (a / "invoice_lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert bill["lines"] == [ln for ln in issued if ln["party"] == "B-2001"] != []
    # C-1001 activated StreamPlus on 10 January (SP-0001): all 31 days of March, 39.00 PLN
    assert subscriber["lines"] == [ln for ln in issued if ln["party"] == "C-1001"]
    retail = [ln for ln in issued if ln["party"] == "C-1001" and ln["clause"] == "3.1 Retail price"]
    assert [ln["amount"] for ln in retail] == ["39.00"]


def test_kill_9_loses_no_acknowledged_record_and_counts_none_twice(tmp_path: Path, ledger_url: str) -> None:
    ledger = ledger_url
    records = [r for r in all_rows() if not str(r["record_id"]).startswith("SP-")]
    s = Server(tmp_path, ledger).start()
    acknowledged: set[str] = set()
    stop = threading.Event()

    def send() -> None:
        with s.client() as c:
            for i in range(0, len(records), 3):
                if stop.is_set():
                    return
                try:
                    answer = c.post("/v1/usage", json={"records": records[i : i + 3]})
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    acknowledged.update(r["record_id"] for r in answer.json()["results"] if r["accepted"])

    sender = threading.Thread(target=send)
    sender.start()
    while len(acknowledged) < 10 and sender.is_alive():
        pass
    killed = s.proc.pid if s.proc else 0
    s.kill()
    stop.set()
    sender.join()
    assert acknowledged
    # the killed server could not remove its scratch folder; the next one to start does
    assert [f.name.split("-")[2] for f in s.tmp.glob("clearline-serve-*")] == [str(killed)]
    s = Server(tmp_path, ledger).start()
    assert [f.name.split("-")[2] for f in s.tmp.glob("clearline-serve-*")] == [
        str(s.proc.pid if s.proc else 0)
    ]
    try:
        # everything again: the acknowledged ones are duplicates
        again = [r for i in range(0, len(records), 1000) for r in s.post(records[i : i + 1000])]
        for result in again:
            if result["record_id"] in acknowledged:
                assert result["reason"].startswith("duplicate record id"), result
                assert result["code"] == codes.REJECT_DUPLICATE
        with s.client() as c:
            after = c.get("/v1/parties/nordcarrier/periods/2026-03").json()
            bill = c.get("/v1/customers/B-2001/periods/2026-03").json()
            periods = c.get("/v1/health").json()["pending_periods"]
        # killed again, idle: the running totals after the restart are those before it
        s.kill()
        s = Server(tmp_path, ledger).start()
        with s.client() as c:
            assert c.get("/v1/parties/nordcarrier/periods/2026-03").json() == after
            assert c.get("/v1/customers/B-2001/periods/2026-03").json() == bill
            assert c.get("/v1/health").json()["pending_periods"] == periods
    finally:
        s.stop()
    # every record once: the same payouts as simulate over the records, each once
    usage = tmp_path / "once.jsonl"
    usage.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    batch = _cli(
        "simulate",
        str(CONTRACTS),
        "--usage",
        str(usage),
        "--period",
        "2026-03",
        "--fx",
        str(DATA / "fx-rates.csv"),
        "--customers",
        str(DATA / "customers.csv"),
        "--out",
        str(tmp_path / "batch"),
        cwd=tmp_path,
    )
    assert batch.returncode in (0, 3), batch.stderr
    lines = [json.loads(t) for t in (tmp_path / "batch" / "payout_lines.jsonl").read_text().splitlines()]
    expected = sorted((ln["line_id"], ln["amount"]) for ln in lines if ln["party"] == "nordcarrier")
    assert sorted((ln["line_id"], ln["amount"]) for ln in after["lines"]) == expected


def _subset(expected: Any, actual: Any) -> bool:
    """Every field of `expected` is in `actual` with the same value (lists item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def test_the_api_examples_run(server: Server) -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(http|json)\n(.*?)```", text, re.S)
    pairs = [(blocks[i][1], blocks[i + 1][1]) for i in range(len(blocks) - 1) if blocks[i][0] == "http"]
    assert len(pairs) == 9
    with server.client() as c:
        for request, response in pairs:
            head, _, body = request.partition("\n")
            method, path = head.split()
            answer = c.request(method, path, content=body.encode() if body.strip() else None)
            assert _subset(json.loads(response), answer.json()), (head, answer.text)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_records = st.dictionaries(
    st.sampled_from(["record_id", "timestamp", "customer_id", "service", "quantity", "x"]),
    st.none() | st.text(max_size=12) | st.sampled_from(["2026-03-01T10:00:00+01:00", "61", "voice-out"]),
    max_size=6,
)
_bodies = st.one_of(
    _json_values,
    st.fixed_dictionaries({"records": st.lists(_records, max_size=4)}),
    st.fixed_dictionaries({"records": _json_values}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, path=st.sampled_from(["/v1/usage", "/v1/contracts"]))
def test_no_body_over_the_schema_gets_a_5xx(server: Server, body: Any, path: str) -> None:
    """Hypothesis over the OpenAPI request shapes (and off them): always an answer < 500."""
    with server.client() as c:
        answer = c.post(path, json=body)
    assert answer.status_code < 500, answer.text
    assert "Traceback" not in answer.text


def test_a_slow_client_does_not_stall_the_others(server: Server) -> None:
    """A client that sends its headers and then a byte every half second holds its own
    connection only: another client's record is answered meanwhile."""
    import socket
    import time

    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(
        b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b'{"records": ['
    )
    try:
        start = time.monotonic()
        assert server.post([CDR_1])[0]["status"] == "rated"
        assert time.monotonic() - start < 5
        slow.sendall(b" ")
    finally:
        slow.close()


def test_late_records_of_a_closed_period_become_adjustments(tmp_path: Path) -> None:
    """March is closed with CDR-0001 (payout 0.0175 -> 0.02 EUR); then CDR-0002 arrives,
    7 s to 4860 billed 30 s: 30 x 0.0150 / 60 + 0.0010 = 0.0085. The period's line is now
    0.0175 + 0.0085 = 0.0260 -> 0.03 EUR, so the second close issues an adjustment of
    +0.01 EUR, never touching the issued statement."""
    ledger = str(tmp_path / "ledger.db")
    s = Server(tmp_path, ledger).start()
    try:
        s.post([CDR_1])
        first = _cli(
            "close", "--period", "2026-03", "--ledger", ledger, "--out", str(tmp_path / "c1"), cwd=tmp_path
        )
        assert first.returncode == 0, first.stderr
        assert s.post([CDR_1])[0]["reason"].startswith("duplicate record id: already settled in 2026-03")
        late = s.post([rows("nordcarrier-cdrs.csv")[1]])
        assert late[0]["status"] == "rated" and late[0]["rated"][0]["amount"] == "0.0085"
        with s.client() as c:
            payouts = c.get("/v1/parties/nordcarrier/periods/2026-03").json()
        assert [(a["issued"], a["total"], a["amount"]) for a in payouts["adjustments"]] == [
            ("0.02", "0.03", "0.01")
        ]
    finally:
        s.stop()
    second = _cli(
        "close", "--period", "2026-03", "--ledger", ledger, "--out", str(tmp_path / "c2"), cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    again = _cli("close", "--period", "2026-03", "--ledger", ledger, cwd=tmp_path)
    assert again.returncode == 1 and "accepted no record for it since" in again.stderr
    documents = _cli("ledger", ledger, "documents", cwd=tmp_path)
    # the partner's adjustment waits for its next statement
    assert documents.returncode == 0 and "Pending partner adjustments" in documents.stdout


def test_the_running_totals_are_the_bill_and_payouts_so_far(tmp_path: Path) -> None:
    """GameStudio via PayHub (prices include 23% VAT, extracted per purchase; the period's net
    distributed: 3% kept, PayHub 8% of the remainder, GameStudio 70% of the rest, TelcoPL the rest).

    After 24.60 PLN from C-1002: net 24.60 / 1.23 = 20.00, VAT 4.60; 3% = 0.60, remainder
    19.40; PayHub 8% = 1.552 -> 1.55, remainder 17.85; GameStudio 70% = 12.495 -> 12.50.
    After 61.50 more: net 20.00 + 50.00 = 70.00, VAT 4.60 + 11.50 = 16.10, gross 86.10;
    2.10, remainder 67.90; PayHub 5.432 -> 5.43, remainder 62.47; GameStudio 43.729 -> 43.73.
    After 12.30 from C-1003: C-1002's bill is unchanged, C-1003's is net 10.00, VAT 2.30; the
    period's net 80.00: 2.40, remainder 77.60; PayHub 6.208 -> 6.21, remainder 71.39;
    GameStudio 49.973 -> 49.97; TelcoPL keeps 71.39 - 49.97 = 21.42."""
    s = Server(tmp_path, str(tmp_path / "ledger.db"), [CONTRACTS / "gamestudio.contract"]).start()

    def purchase(rid: str, customer: str, amount: str) -> dict[str, str]:
        return {
            "record_id": rid,
            "timestamp": "2026-03-02T07:13:00+01:00",
            "customer_id": customer,
            "service": "carrier-billing",
            "merchant": "gamestudio",
            "amount": amount,
            "currency": "PLN",
        }

    def bill(c: httpx.Client, customer: str) -> tuple[list[str], list[tuple[str, str, str, str]]]:
        got = c.get(f"/v1/customers/{customer}/periods/2026-03").json()
        assert got["closed"] is False
        return [ln["amount"] for ln in got["lines"]], [
            (t["vat_rate"], t["net"], t["vat"], t["gross"]) for t in got["totals"]
        ]

    def payout(c: httpx.Client, party: str) -> tuple[str, list[tuple[str, str, str, str, str]]]:
        got = c.get(f"/v1/parties/{party}/periods/2026-03").json()
        [line] = got["lines"]
        [trace] = got["traces"]
        steps = [
            (w["party"], w["basis"], w["exact"], w["amount"], w["remainder"]) for w in trace["waterfall"]
        ]
        return line["amount"], steps

    try:
        with s.client() as c:
            assert c.get("/v1/customers/C-1002/periods/2026-03").status_code == 404  # nothing yet
            assert s.post([purchase("GS-1", "C-1002", "24.60")])[0]["rated"][0]["amount"] == "20.00"
            assert bill(c, "C-1002") == (["20.00"], [("23%", "20.00", "4.60", "24.60")])
            assert payout(c, "payhub") == (
                "1.55",
                [
                    ("telcopl", "20.00", "0.6000", "0.60", "19.40"),
                    ("payhub", "19.40", "1.5520", "1.55", "17.85"),
                    ("gamestudio", "17.85", "12.495", "12.50", "5.35"),
                    ("telcopl", "5.35", "5.35", "5.35", "0.00"),
                ],
            )
            s.post([purchase("GS-2", "C-1002", "61.50")])
            assert bill(c, "C-1002") == (["70.00"], [("23%", "70.00", "16.10", "86.10")])
            assert payout(c, "payhub") == (
                "5.43",
                [
                    ("telcopl", "70.00", "2.1000", "2.10", "67.90"),
                    ("payhub", "67.90", "5.4320", "5.43", "62.47"),
                    ("gamestudio", "62.47", "43.729", "43.73", "18.74"),
                    ("telcopl", "18.74", "18.74", "18.74", "0.00"),
                ],
            )
            s.post([purchase("GS-3", "C-1003", "12.30")])
            assert bill(c, "C-1002") == (["70.00"], [("23%", "70.00", "16.10", "86.10")])
            assert bill(c, "C-1003") == (["10.00"], [("23%", "10.00", "2.30", "12.30")])
            amount, steps = payout(c, "gamestudio")
            assert amount == "49.97"
            assert steps[1:] == [
                ("payhub", "77.60", "6.2080", "6.21", "71.39"),
                ("gamestudio", "71.39", "49.973", "49.97", "21.42"),
                ("telcopl", "21.42", "21.42", "21.42", "0.00"),
            ]
    finally:
        s.stop()


def test_an_activation_for_an_earlier_period_shows_on_the_bill_so_far(server: Server) -> None:
    """StreamPlus: 39.00 PLN per month prorated by active days. C-1004 activates on 17 March
    (SP-0004): 15 of 31 days, 39.00 x 15 / 31 = 18.870... -> 18.87. Then C-1001's activation
    of 10 January (SP-0001) arrives, accepted for January: March's bill so far (asked before,
    so settled once already) now has C-1001 active all month, 39.00."""
    subscriptions = {r["record_id"]: r for r in rows("streamplus-subscriptions.csv")}
    assert server.post([subscriptions["SP-0004"]])[0]["period"] == "2026-03"
    with server.client() as c:
        march = c.get("/v1/customers/C-1004/periods/2026-03").json()
        assert [ln["amount"] for ln in march["lines"] if ln["clause"] == "3.1 Retail price"] == ["18.87"]
        assert c.get("/v1/customers/C-1001/periods/2026-03").status_code == 404
        assert server.post([subscriptions["SP-0001"]])[0]["period"] == "2026-01"
        bill = c.get("/v1/customers/C-1001/periods/2026-03").json()
    assert [ln["amount"] for ln in bill["lines"] if ln["clause"] == "3.1 Retail price"] == ["39.00"]


def test_refunds_are_checked_against_the_ledger_as_the_close_checks_them(tmp_path: Path) -> None:
    """The refund contract of tests/test_ledger_refunds.py. March: M-1..M-4 of 10,000.00, the
    studio 60% x 30,000.00 + 70% x 10,000.00 = 25,000.00, closed. Then R-1 refunds M-2
    (-5,000.00): rated; the studio's March is now 60% x 30,000.00 + 70% x 5,000.00 =
    21,500.00, an adjustment of -3,500.00. R-2 refunds M-9 (never settled) and R-3 refunds M-2
    again: refused with the reasons and code the close gives them in its rejects.csv."""
    from test_ledger_refunds import REFUNDS

    (tmp_path / "refunds.contract").write_text(REFUNDS, encoding="utf-8")
    ledger = str(tmp_path / "ledger.db")
    s = Server(tmp_path, ledger, [tmp_path / "refunds.contract"]).start()

    def sale(rid: str, day: int, customer: str, amount: str, refund_of: str = "") -> dict[str, str]:
        when = f"2026-03-{day:02d}T10:00:00+01:00"
        return {
            "record_id": rid,
            "timestamp": when,
            "customer_id": customer,
            "service": "sale",
            "amount": amount,
            "refund_of": refund_of,
        }

    try:
        march = [sale(f"M-{i}", i, "C-1002" if i % 2 else "C-1001", "10000.00") for i in range(1, 5)]
        assert all(r["status"] == "rated" for r in s.post(march))
        closed = _cli(
            "close", "--period", "2026-03", "--ledger", ledger, "--out", str(tmp_path / "c1"), cwd=tmp_path
        )
        assert closed.returncode == 0, closed.stderr
        out = s.post(
            [
                sale("R-1", 20, "C-1001", "-5000.00", "M-2"),
                sale("R-2", 21, "C-1001", "-10.00", "M-9"),
                sale("R-3", 22, "C-1001", "-5000.00", "M-2"),
            ]
        )
        assert (out[0]["status"], [p["amount"] for p in out[0]["rated"] if p["clause"] == "1 Price"]) == (
            "rated",
            ["-5000.00"],
        )
        answers = {r["record_id"]: (r["code"], r["reason"]) for r in out[1:]}
        assert answers == {
            "R-2": (codes.REJECT_REFUND, "refunds M-9, which no closed period settled"),
            "R-3": (codes.REJECT_REFUND, "refunds M-2, already refunded by R-1 in this run"),
        }
        with s.client() as c:
            studio = c.get("/v1/parties/studio/periods/2026-03").json()
        assert [(a["issued"], a["total"], a["amount"]) for a in studio["adjustments"]] == [
            ("25000.00", "21500.00", "-3500.00")
        ]
    finally:
        s.stop()
    again = _cli(
        "close", "--period", "2026-03", "--ledger", ledger, "--out", str(tmp_path / "c2"), cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    with (tmp_path / "c2" / "rejects.csv").open(encoding="utf-8", newline="") as handle:
        rejects = {r["record_id"]: (r["code"], r["reason"]) for r in csv.DictReader(handle)}
    assert rejects == answers


def test_a_record_of_a_period_past_its_late_usage_window_is_refused(tmp_path: Path) -> None:
    """GameStudio takes late usage for the default one period: February closed, then March
    closed, February takes no more records. One sent is refused with the ledger's reason
    (E0839) and not accepted, so February's intake holds nothing its close would refuse;
    a March record is still a late record, accepted (March: only itself closed since)."""
    ledger = str(tmp_path / "ledger.db")
    s = Server(tmp_path, ledger, [CONTRACTS / "gamestudio.contract"]).start()

    def purchase(rid: str, when: str) -> dict[str, str]:
        return {
            "record_id": rid,
            "timestamp": when,
            "customer_id": "C-1002",
            "service": "carrier-billing",
            "merchant": "gamestudio",
            "amount": "24.60",
            "currency": "PLN",
        }

    try:
        s.post([purchase("F-1", "2026-02-10T10:00:00+01:00"), purchase("M-1", "2026-03-10T10:00:00+01:00")])
        for period in ("2026-02", "2026-03"):
            done = _cli(
                "close", "--period", period, "--ledger", ledger, "--out", str(tmp_path / period), cwd=tmp_path
            )
            assert done.returncode == 0, done.stderr
        late_feb, late_march = s.post(
            [purchase("F-2", "2026-02-11T10:00:00+01:00"), purchase("M-2", "2026-03-11T10:00:00+01:00")]
        )
        assert (late_feb["status"], late_feb["accepted"], late_feb["code"]) == (
            "rejected",
            False,
            codes.REJECT_PAST_LATE_WINDOW,
        )
        assert late_feb["reason"] == (
            "GS-2026 2026-02 is past its late-usage window (the default window of 1 period(s)): "
            "2026-03 closed since"
        )
        assert (late_march["status"], late_march["accepted"]) == ("rated", True)
    finally:
        s.stop()
