"""The HTTP edge of the service (Starlette): parse and validate, call `Service`, render.

Input: HTTP requests. Output: JSON responses: 200 with the models of
`service.models`; 400/413/422 with a reason per field for malformed JSON,
a body too large, wrong types or unknown fields; 401 for a write without
the bearer token; 404 for what is not there; 503 if the ledger fails (the
records were not acknowledged: send them again). No response carries a
traceback: an unexpected error is logged and answered as a plain 500.
"""

from __future__ import annotations

import collections
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clearline.diagnostics import ClearlineError
from clearline.periods import period_bounds
from clearline.service import models
from clearline.service.core import Service

__all__ = ["HttpError", "create_app"]

log = logging.getLogger("clearline.serve")
Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


class HttpError(Exception):
    def __init__(self, status: int, error: str, errors: list[models.FieldError] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.errors = errors or []


def _json(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


async def _body(request: Request) -> Any:
    """The JSON body, read up to MAX_BODY bytes (a larger one is refused while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > models.MAX_BODY:
        raise HttpError(413, f"the body is larger than {models.MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > models.MAX_BODY:
            raise HttpError(413, f"the body is larger than {models.MAX_BODY} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    try:
        return json.loads(data, parse_float=_no_float, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise HttpError(400, "the body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise HttpError(
            400, "the body is not JSON", [models.FieldError(field="body", reason=f"{err.msg} at {err.pos}")]
        ) from None
    except RecursionError:
        raise HttpError(400, "the JSON is nested too deeply") from None


def _no_float(text: str) -> Any:
    raise HttpError(
        422,
        "a JSON number with a fraction is not accepted",
        [models.FieldError(field="body", reason=f"write {text} as a string: money is decimal text")],
    )


def _no_constant(text: str) -> Any:
    raise HttpError(
        422, f"{text} is not JSON", [models.FieldError(field="body", reason=f"{text} is not JSON")]
    )


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as err:
        raise HttpError(422, "the request does not fit its schema", models.field_errors(err)) from None


def create_app(service: Service, token: str | None, contracts_dir: Path) -> Starlette:
    registry = CollectorRegistry()
    records = Counter(
        "clearline_records",
        "Records answered, by status and the reason's code (E08xx; empty when rated)",
        ["status", "code"],
        registry=registry,
    )
    accepted = Counter("clearline_records_accepted", "Records committed to the ledger", registry=registry)
    latency = Histogram(
        "clearline_request_seconds",
        "Request latency by route",
        ["route"],
        registry=registry,
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
    )

    def writes(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HttpError(401, "this endpoint needs the bearer token: Authorization: Bearer TOKEN")

    async def usage(request: Request) -> Response:
        writes(request)
        body = _parse(models.UsageRequest, await _body(request))
        future = service.submit(body.records)
        try:
            import asyncio

            verdicts = await asyncio.wrap_future(future)
        except Exception as err:
            log.error("the ledger refused a commit: %s", err)
            raise HttpError(  # noqa: B904  (the cause is logged, never shown)
                503, "the ledger did not commit the records; nothing was accepted: send them again"
            )
        # models.UsageResponse, built as plain data: the hot path skips pydantic's
        # validation and dump (a tenth of a batch's time); tests validate it against the model
        results = []
        labels: collections.Counter[tuple[str, str]] = collections.Counter()
        for v in verdicts:
            labels[(v.status, v.code)] += 1
            results.append(
                {
                    "record_id": v.record_id,
                    "status": v.status,
                    "accepted": v.accepted,
                    "period": v.period,
                    "reason": v.reason,
                    "code": v.code,
                    "field": v.field_name,
                    "value": v.value,
                    "rated": [
                        {
                            "line_id": r.line_id,
                            "kind": r.kind,
                            "product": r.product,
                            "party": r.party,
                            "clause": r.clause,
                            "billed_quantity": r.billed_quantity,
                            "amount": r.amount,
                        }
                        for r in v.rated
                    ],
                }
            )
        for (status, code), n in labels.items():
            records.labels(status, code).inc(n)
        count = {s: sum(n for (status, _), n in labels.items() if status == s) for s in _STATUSES}
        taken = sum(1 for v in verdicts if v.accepted)
        accepted.inc(taken)
        payload = {"results": results, "accepted": taken, **count}
        return Response(
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            media_type="application/json",
        )

    async def customer(request: Request) -> Response:
        cid, period = request.path_params["id"], request.path_params["period"]
        preview = await _preview(period)
        lines = [ln.row() for ln in preview.result.lines if ln.kind == "invoice" and ln.party == cid]
        totals = [t for t in preview.result.invoice_totals() if t["customer"] == cid]
        adjustments = [a.row() for a in preview.result.adjustments if a.party == cid]
        if not lines and not adjustments:
            raise HttpError(404, f"no invoice lines for customer {cid} in {period}")
        return _json(
            models.BillResponse(
                customer=cid,
                period=period,
                closed=bool(preview.result.adjustments) or _closed(preview),
                lines=lines,
                totals=totals,
                adjustments=adjustments,
            )
        )

    async def party(request: Request) -> Response:
        pid, period = request.path_params["id"], request.path_params["period"]
        preview = await _preview(period)
        lines = [ln.row() for ln in preview.result.lines if ln.kind != "invoice" and ln.party == pid]
        if not lines:
            raise HttpError(404, f"no payout lines for party {pid} in {period}")
        ids = {ln["line_id"] for ln in lines}
        traces = [t for t in preview.traces if t.get("line_id") in ids]
        adjustments = [a.row() for a in preview.result.adjustments if a.party == pid]
        return _json(
            models.PayoutsResponse(
                party=pid,
                period=period,
                closed=_closed(preview),
                lines=lines,
                traces=traces,
                adjustments=adjustments,
            )
        )

    async def explain(request: Request) -> Response:
        key = request.path_params["key"]
        for period in await run_in_threadpool(service.periods):
            preview = await _preview(period)
            for trace in preview.traces:
                if trace.get("line_id") == key:
                    return _json(models.ExplainResponse(period=period, trace=trace))
        raise HttpError(404, f"no line {key} among the periods the service holds records of")

    async def _preview(period: str) -> Any:
        if not period or len(period) > 20:
            raise HttpError(404, f"{period!r} is not a period")
        problems = []
        for plan in service.plans:  # a period some contract in force settles
            try:
                period_bounds(period, plan.period, plan.time_zone)
                break
            except ValueError as err:
                problems.append(str(err))
        else:
            raise HttpError(
                422,
                "no contract settles such a period",
                [models.FieldError(field="period", reason=problems[0])],
            )
        try:
            return await run_in_threadpool(service.preview, period)
        except ClearlineError as err:
            raise HttpError(
                404, "; ".join(d.message for d in err.diagnostics) or "the period cannot be settled"
            ) from None

    async def load(request: Request) -> Response:
        writes(request)
        body = _parse(models.ContractRequest, await _body(request))
        found = await run_in_threadpool(service.load_contract, body.name, body.text, contracts_dir)
        diagnostics = [
            models.DiagnosticOut(
                code=d.code,
                severity="error" if d.is_error else "warning",
                message=d.message,
                span=d.where,
                hint=d.hint or "",
            )
            for d in found
        ]
        ok = not any(d.is_error for d in found)
        return _json(models.ContractResponse(loaded=ok, diagnostics=diagnostics), 200 if ok else 422)

    async def contracts(request: Request) -> Response:
        return _json(
            models.ContractsResponse(contracts=[models.ContractVersion(**v) for v in service.versions()])
        )

    async def health(request: Request) -> Response:
        periods = await run_in_threadpool(service.periods)
        return _json(
            models.HealthResponse(
                status="ok", ledger=service.ledger.url, contracts=len(service.plans), pending_periods=periods
            )
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> Response:
        return JSONResponse(models.openapi())

    def timed(name: str, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            start = time.perf_counter()
            try:
                return await handler(request)
            except HttpError as err:
                return _json(models.ErrorResponse(error=err.error, errors=err.errors), err.status)
            except Exception:  # a bug: logged here, never shown to the client
                log.exception("internal error in %s", name)
                return JSONResponse({"error": "internal error (logged by the server)", "errors": []}, 500)
            finally:
                latency.labels(name).observe(time.perf_counter() - start)

        return wrapped

    routes = [
        Route("/v1/usage", timed("usage", usage), methods=["POST"]),
        Route("/v1/customers/{id}/periods/{period}", timed("customer", customer), methods=["GET"]),
        Route("/v1/parties/{id}/periods/{period}", timed("party", party), methods=["GET"]),
        Route("/v1/lines/{key}/explain", timed("explain", explain), methods=["GET"]),
        Route("/v1/contracts", timed("load", load), methods=["POST"]),
        Route("/v1/contracts", timed("contracts", contracts), methods=["GET"]),
        Route("/v1/health", timed("health", health), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    return Starlette(routes=routes)


_STATUSES = ("rated", "rejected", "unmatched")


def _closed(preview: Any) -> bool:
    return bool(getattr(preview.result, "adjustments", None))
