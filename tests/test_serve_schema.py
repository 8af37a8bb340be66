"""Schemathesis over `clearline serve`'s own /openapi.json, against a real server process on
loopback: every operation, with bodies generated from the schema (and off it: schemathesis
also sends requests the schema forbids), answers below 500 and never with a traceback.
The writing endpoints are called with the bearer token, so requests reach the handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from serve_support import TOKEN, Server

schemathesis = pytest.importorskip("schemathesis")  # the dev extra brings it
GenerationMode = schemathesis.GenerationMode


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    server = Server(folder, str(folder / "ledger.db")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(served: Server) -> Any:
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


def test_no_request_the_schema_describes_gets_a_5xx(api: Any) -> None:
    """Each operation in turn, with schemathesis's strategies (positive and negative cases);
    driven by hand rather than by its pytest plugin, which does not run under pytest 9."""
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 7
    seen: dict[int, int] = {}  # status -> answers
    for operation in operations:

        @given(
            case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
            | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            assert "Traceback" not in response.text
            kind = response.headers.get("content-type") or [""]  # schemathesis: a list per header
            if kind[0].startswith("application/json"):
                response.json()  # every answer is JSON a client can read
            seen[response.status_code] = seen.get(response.status_code, 0) + 1

        check()
    # the cases reached the handlers: some were answered, some refused per field
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0, seen


def test_the_schema_names_every_route(api: Any) -> None:
    paths = {result.ok().path for result in api.get_all_operations()}
    assert paths >= {
        "/v1/usage",
        "/v1/customers/{id}/periods/{period}",
        "/v1/parties/{id}/periods/{period}",
        "/v1/lines/{key}/explain",
        "/v1/contracts",
        "/v1/health",
    }
