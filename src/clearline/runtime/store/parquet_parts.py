"""The rated records and traces of a cluster run as Parquet (`--rated-parquet DIR`):
a part per partition, written by the rating task on its worker
(`write_parquet`), the subscription events' rows as the last part, and the
traces as `trace.parquet`, written by the client. pyarrow is imported only here.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clearline.runtime.settlement.settle import Settlement
from clearline.runtime.store.run_folder import RATED_COLUMNS, RatedText

__all__ = ["TRACE_COLUMNS", "write_lifecycle_parquet", "write_parquet", "write_traces_parquet"]


def write_parquet(target: Path, json_texts: Sequence[bytes]) -> None:
    """Rated rows, rendered as JSON Lines (RatedText), as one Parquet file of the
    rated-records columns, every one text (the CSV's cells, exactly)."""
    import pyarrow
    import pyarrow.json
    import pyarrow.parquet

    schema = pyarrow.schema([(name, pyarrow.string()) for name in RATED_COLUMNS])
    data = b"".join(json_texts)
    if data:
        options = pyarrow.json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        table = pyarrow.json.read_json(io.BytesIO(data), parse_options=options).select(RATED_COLUMNS)
    else:
        table = schema.empty_table()
    partial = target.with_name(f".{target.name}.partial")
    pyarrow.parquet.write_table(table, partial)
    os.replace(partial, target)


def write_lifecycle_parquet(folder: Path, result: Settlement) -> None:
    """The subscription events' rated rows, which the client adds at the end (as the
    run folder's rated records end with them), as the last part."""
    text = RatedText()
    write_parquet(
        folder / "part-lifecycle.parquet", [text.render(rows)[1].encode() for rows in result.lifecycle_rows()]
    )


# trace.parquet's columns: what a query filters on, then the trace.jsonl line itself
TRACE_COLUMNS = [
    "line_id", "kind", "party", "contract_id", "contract_version", "clause", "amount", "currency", "trace",
]  # fmt: skip


def write_traces_parquet(folder: Path, traces: Sequence[dict[str, Any]]) -> None:
    """The run's traces as `trace.parquet`: a row per line, in trace.jsonl's order, with
    the columns a query filters on and `trace`, the line of trace.jsonl itself (so the
    Parquet file says nothing the run folder does not). Written by the client: the
    traces are made when the partitions' sums are merged, not per partition."""
    import pyarrow
    import pyarrow.parquet

    rows: dict[str, list[str]] = {name: [] for name in TRACE_COLUMNS}
    for trace in traces:
        contract = trace.get("contract") or {}
        clause = trace.get("clause") or {}
        for name, value in (
            ("line_id", trace.get("line_id")),
            ("kind", trace.get("kind")),
            ("party", trace.get("party")),
            ("contract_id", contract.get("id")),
            ("contract_version", contract.get("version")),
            ("clause", clause.get("label")),
            ("amount", trace.get("amount")),
            ("currency", trace.get("currency")),
            ("trace", json.dumps(trace, ensure_ascii=False, sort_keys=True)),
        ):
            rows[name].append("" if value is None else str(value))
    table = pyarrow.table({name: pyarrow.array(values, pyarrow.string()) for name, values in rows.items()})
    target = folder / "trace.parquet"
    partial = target.with_name(f".{target.name}.partial")
    pyarrow.parquet.write_table(table, partial)
    os.replace(partial, target)
