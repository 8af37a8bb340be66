"""Open a usage file by its kind: CSV by runtime.inputs.csv_files, JSON Lines by
runtime.inputs.json_lines, Parquet by runtime.inputs.parquet, which pyarrow is imported
for only when a Parquet file is read. No reader imports this module.
"""

from __future__ import annotations

from clearline.runtime.inputs.csv_files import read_csv
from clearline.runtime.inputs.json_lines import read_jsonl
from clearline.runtime.inputs.locations import Input, suffix_of
from clearline.runtime.inputs.readers import (
    BATCH_SIZE,
    PARQUET_SUFFIXES,
    ByteSpan,
    InputError,
    Skim,
    UsageFile,
    regular_file,
)

__all__ = ["read_usage"]


def read_usage(
    path: Input, batch_size: int = BATCH_SIZE, skim: Skim | None = None, span: ByteSpan | None = None
) -> UsageFile:
    """Open a usage file by its extension: .csv, .jsonl/.ndjson, .parquet/.parq.

    `skim`: a batch it gives ids for may come with only the rows of those ids
    (CSV files without quotes do; the others come whole). Batches end at the
    same rows either way. `span`: only that part of a CSV file (after its
    header) or JSON Lines file, with the line numbers of the whole file
    (runtime.inputs.partitions).
    """
    regular_file(path)
    suffix = suffix_of(path)
    if suffix in {".jsonl", ".ndjson"}:
        return read_jsonl(path, batch_size, span)
    if suffix == ".csv":
        return read_csv(path, batch_size, skim, span)
    if suffix in PARQUET_SUFFIXES:
        from clearline.runtime.inputs import parquet  # pyarrow is imported only for Parquet files

        return parquet.read_parquet(path, batch_size)
    raise InputError(
        path,
        f"cannot read usage from a `{suffix or 'extensionless'}` file",
        "give a .csv, .jsonl or .parquet file",
    )
