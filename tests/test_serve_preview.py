"""The running totals from the rater's own engine (`Service.live`) are the settlement of a run
over the intake file (`Service.from_file`, what the close runs): the same lines, traces and
invoice totals, over random streams and batchings of the bundled usage, before and after an
earlier period is closed. In process: the service's state, not its HTTP edge."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from clearline.ledger import intake, open_ledger
from clearline.service.close import close_period
from clearline.service.core import Preview, Service
from serve_support import CONTRACTS, DATA
from test_serve import _batches, _stream


def _same(live: Preview | None, batch: Preview) -> None:
    assert live is not None
    assert [ln.row() for ln in live.result.lines] == [ln.row() for ln in batch.result.lines]
    assert live.result.invoice_totals() == batch.result.invoice_totals()
    assert live.traces == batch.traces
    assert live.state == batch.state


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_live_totals_are_the_run_over_the_intake(tmp_path: Path, seed: int) -> None:
    fx = tmp_path / "fx-rates.csv"  # February's close converts at its period end's rate too
    fx.write_text((DATA / "fx-rates.csv").read_text(encoding="utf-8") + "2026-02-28,EUR,PLN,4.3000\n")
    with open_ledger(str(tmp_path / "ledger.db")) as ledger:
        service = Service(ledger, sorted(CONTRACTS.glob("*.contract")), fx, DATA / "customers.csv")
        try:
            rng = random.Random(seed)
            answers: list[Any] = []
            for batch in _batches(_stream(seed), rng):
                answers += service.submit(batch).result(timeout=120)
            assert sum(v.accepted for v in answers) > 50
            for period in ("2026-03", "2026-02"):
                _same(service.live(period), service.from_file(period, intake.state_of(ledger, period)))
            close_period(ledger, "2026-02", tmp_path / "feb")
            service.run_in_writer(service.rebuild).result(timeout=120)  # as the next commit would
            # March reads January's and February's activations, February now closed
            _same(service.live("2026-03"), service.from_file("2026-03", intake.state_of(ledger, "2026-03")))
            assert service.live("2026-02") is None  # closed: only the ledger's prior says it
        finally:
            service.stop()
