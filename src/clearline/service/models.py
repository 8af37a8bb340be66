"""The service's request and response types (pydantic), and the OpenAPI document built
from them.

Input: JSON bodies. Output: validated requests, or a list of `FieldError`
(a path like `records.3.duration` and a reason) for a 4xx; response bodies.
Money is a decimal string everywhere (`"81.65"`), never a JSON number: a
record's fields are strings (or null), and every amount answered is text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema

__all__ = [
    "MAX_BATCH",
    "MAX_BODY",
    "ContractRequest",
    "FieldError",
    "UsageRequest",
    "field_errors",
    "openapi",
]

MAX_BATCH = 1_000  # records per POST /v1/usage
MAX_BODY = 4 * 1024 * 1024  # bytes per request body


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UsageRequest(_Strict):
    """One record or a batch: each an object of the usage file's columns, as strings."""

    records: list[dict[str, str | None]] = Field(min_length=1, max_length=MAX_BATCH)


class RatedLine(_Strict):
    line_id: str
    kind: str  # invoice or payout
    product: str
    party: str  # the customer invoiced, or the partner paid
    clause: str
    billed_quantity: str
    amount: str  # decimal text


class RecordResult(_Strict):
    record_id: str
    status: Literal["rated", "rejected", "unmatched"]
    accepted: bool  # committed to the ledger (a close settles it)
    period: str
    reason: str
    code: str  # the reason's stable code (E08xx, as rejects.csv's `code`); "" when rated
    field: str
    value: str
    rated: list[RatedLine]


class UsageResponse(_Strict):
    results: list[RecordResult]
    accepted: int
    rated: int
    rejected: int
    unmatched: int


class ContractRequest(_Strict):
    """A contract or amendment: its file name (e.g. `streamplus-2026-06.contract`) and text."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+\.contract$")
    text: str = Field(max_length=MAX_BODY)


class DiagnosticOut(_Strict):
    code: str
    severity: str
    message: str
    span: str  # file:line:col, or ""
    hint: str


class ContractResponse(_Strict):
    loaded: bool
    diagnostics: list[DiagnosticOut]


class ContractVersion(_Strict):
    contract_id: str
    version: int
    effective_from: str
    effective_until: str
    file: str
    sha256: str


class ContractsResponse(_Strict):
    contracts: list[ContractVersion]


class FieldError(_Strict):
    field: str
    reason: str


class ErrorResponse(_Strict):
    error: str
    errors: list[FieldError]


class BillResponse(_Strict):
    """A customer's bill so far: the lines its invoice would have if the period closed now."""

    customer: str
    period: str
    closed: bool
    lines: list[dict[str, str]]
    totals: list[dict[str, str]]  # per currency and VAT rate: net, vat, gross
    adjustments: list[dict[str, str]]


class PayoutsResponse(_Strict):
    """A party's payouts so far, each line with its trace (the waterfall's steps)."""

    party: str
    period: str
    closed: bool
    lines: list[dict[str, str]]
    traces: list[dict[str, Any]]
    adjustments: list[dict[str, str]]


class ExplainResponse(_Strict):
    period: str
    trace: dict[str, Any]


class HealthResponse(_Strict):
    status: str
    ledger: str
    contracts: int
    pending_periods: list[str]


def field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "body", reason=e["msg"])
        for e in error.errors(include_url=False)
    ]


_ROUTES: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel], bool]] = [
    ("post", "/v1/usage", "Rate and accept usage records", UsageRequest, UsageResponse, True),
    ("get", "/v1/customers/{id}/periods/{period}", "A customer's bill so far", None, BillResponse, False),
    ("get", "/v1/parties/{id}/periods/{period}", "A party's payouts so far", None, PayoutsResponse, False),
    ("get", "/v1/lines/{key}/explain", "A line's trace", None, ExplainResponse, False),
    ("post", "/v1/contracts", "Load a contract or amendment", ContractRequest, ContractResponse, True),
    ("get", "/v1/contracts", "Contract versions in force", None, ContractsResponse, False),
    ("get", "/v1/health", "Health", None, HealthResponse, False),
]


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document, from the very models the handlers validate and answer with."""
    models: list[type[BaseModel]] = [ErrorResponse]
    for _, _, _, request, response, _ in _ROUTES:
        models += [m for m in (request, response) if m is not None]
    unique = list(dict.fromkeys(models))
    _, schema = models_json_schema(
        [(m, "validation" if m in {UsageRequest, ContractRequest} else "serialization") for m in unique],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, writes in _ROUTES:
        ref = {"$ref": f"#/components/schemas/{response.__name__}"}
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": ref}}},
                "400": {"description": "Malformed request", **error},
                "404": {"description": "Not found", **error},
                "422": {"description": "Invalid request", **error},
            },
        }
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        if request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request.__name__}"}}
                },
            }
        if writes:
            op["security"] = [{"bearer": []}]
            op["responses"]["401"] = {"description": "No or a wrong bearer token", **error}
            op["responses"]["413"] = {"description": "Body too large", **error}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Clearline rating service", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
