"""A worker's partition rated by the columnar engine (`--engine columnar --workers N`,
runtime.parallel): its rated rows into the worker's part files, each piece's place
(partition, piece) and size noted, for the parent to copy back in read order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from clearline.runtime.inputs.readers import ByteSpan
from clearline.runtime.rating.accumulate import RatedLine, RatedPrice, RatedRows
from clearline.runtime.rating.columnar import settle_file

if TYPE_CHECKING:
    from clearline.runtime.inputs.partitions import Partition
    from clearline.runtime.rating.engine import Engine
    from clearline.runtime.store.run_folder import RatedText

# per piece of rated rows, in order: ((partition, piece), rows, CSV bytes, JSON Lines bytes)
Sizes = list[tuple[tuple[int, int], int, int, int]]


class _PartSink:
    """The columnar engine's sink in a worker: the part files, and each piece's size."""

    def __init__(self, number: int, text: RatedText, sizes: Sizes, csv: IO[bytes], json: IO[bytes]):
        self.number, self.text, self.sizes, self.csv, self.json = number, text, sizes, csv, json

    def rated(self, rows: RatedRows) -> None:
        csv_text, json_text = self.text.render(rows)
        self.rated_text(len(rows), csv_text.encode(), json_text.encode())

    def rated_text(self, count: int, csv_text: bytes, json_text: bytes) -> None:
        self.csv.write(csv_text)
        self.json.write(json_text)
        piece = len(self.sizes)  # increasing: the pieces of a partition stay in order
        self.sizes.append(((self.number, piece), count, len(csv_text), len(json_text)))

    def rated_parts(
        self, lines: Sequence[RatedLine], prices: Sequence[RatedPrice]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        return self.text.parts(lines, prices)


def rate_part(
    engine: Engine,
    number: int,
    part: Partition,
    label: str,
    batch_size: int,
    seen: dict[str, tuple[str, int]],
    text: RatedText,
    sizes: Sizes,
    parts: tuple[IO[bytes] | None, IO[bytes] | None],
    progress: Callable[[int], None],
) -> None:
    """Rate a partition ("bytes" or "whole"; number `number` of the run) into `engine`, the ids of `seen` read
    before it; its rated rows into the part files `parts` (None: none written), noted
    in `sizes` as the partition's pieces; `progress` gets the records read since the
    last call. An input error is raised as the InputError it is."""
    for rid, where in seen.items():
        engine.seen.setdefault(rid, where)
    span = ByteSpan(part.start, part.end, part.first, part.quotes) if part.kind == "bytes" else None
    csv_part, json_part = parts
    sink = None
    if csv_part is not None and json_part is not None:
        sink = _PartSink(number, text, sizes, csv_part, json_part)
    done = [engine.acc.read]

    def read(total: int) -> None:
        progress(total - done[0])
        done[0] = total

    settle_file(engine, Path(part.path), label, batch_size, sink, read, span)
