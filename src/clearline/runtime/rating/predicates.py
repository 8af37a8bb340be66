"""Record predicates: a product's `matches` and a subscription's events compiled to
functions of a raw row (or of a run of rows), with the numbers they read parsed once;
and the reason a record cannot be rated (`RecordProblem`). Re-exported by `closures`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import itemgetter

from clearline import codes
from clearline.compiler import ir
from clearline.money import parse_decimal
from clearline.runtime.inputs.readers import Row

__all__ = [
    "RecordProblem",
    "RowPred",
    "RunPred",
    "compile_pred",
    "compile_run_pred",
    "field_number",
    "pred_fields",
]


class RecordProblem(Exception):
    """A record that cannot be rated; the message is the reject reason, `code` its name."""

    def __init__(self, reason: str, field: str = "", value: str = "", *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.value = value
        self.code = code


RowPred = Callable[[Row], bool]
_ANSWERS = 1 << 15  # a numeric predicate's answers remembered by text (then it starts afresh)


def field_number(field_name: str, text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except ValueError as err:
        raise RecordProblem(
            f"`{field_name}`: {err}", field_name, text, code=codes.REJECT_NOT_A_NUMBER
        ) from None


def compile_pred(pred: ir.Pred, index: dict[str, int]) -> RowPred:
    """A predicate over raw rows of one file (column positions known)."""
    op = pred.op
    if op in {"and", "or"}:
        left, right = (compile_pred(a, index) for a in pred.args)
        if op == "and":
            return lambda r: left(r) and right(r)
        return lambda r: left(r) or right(r)
    if op == "not":
        inner = compile_pred(pred.args[0], index)
        return lambda r: not inner(r)
    assert pred.field is not None
    name = pred.field
    col = index.get(name)
    if col is None:
        return lambda r: False  # the file has no such column: nothing matches on it

    # the column's value is `r[col] if col < len(r) else None`, written out: these run per record
    if op == "prefix":
        prefix = pred.values[0]
        return lambda r: col < len(r) and (v := r[col]) is not None and v.startswith(prefix)
    if not pred.numeric:
        values = frozenset(pred.values)
        if op == "eq" or op == "in":
            if len(values) == 1:
                only = pred.values[0]
                return lambda r: (r[col] if col < len(r) else None) == only
            return lambda r: (r[col] if col < len(r) else None) in values
        return lambda r: (r[col] if col < len(r) else None) not in values  # ne
    numbers = tuple(Decimal(v) for v in pred.values)
    target = numbers[0]
    compare: Callable[[Decimal], bool] = {
        "eq": lambda x: x == target,
        "ne": lambda x: x != target,
        "lt": lambda x: x < target,
        "le": lambda x: x <= target,
        "gt": lambda x: x > target,
        "ge": lambda x: x >= target,
        "in": lambda x: x in numbers,
    }[op]

    answers: dict[str, bool] = {}  # by the value's text: a quantity column repeats its values

    def numeric(r: Row) -> bool:
        v = r[col] if col < len(r) else None
        if v is None or v == "":
            return False
        answer = answers.get(v)
        if answer is None:
            answer = compare(field_number(name, v))
            if len(answers) >= _ANSWERS:
                answers.clear()
            answers[v] = answer
        return answer

    return numeric


RunPred = Callable[[Sequence[Row], int], bool | None]


def compile_run_pred(pred: ir.Pred, index: dict[str, int]) -> RunPred:
    """A predicate over a run of rows at once: True if it holds for every row,
    False for none, None for some (or when that is not known cheaply). The
    second argument is the run's shortest row length.

    Text comparisons (eq, in, ne) look at the set of the column's values;
    anything else asks the row predicate of each row.
    """
    per_row = compile_pred(pred, index)

    def each(rows: Sequence[Row], width: int) -> bool | None:
        answers = list(map(per_row, rows))
        return True if all(answers) else False if not any(answers) else None

    op = pred.op
    if op in {"and", "or"}:
        left, right = (compile_run_pred(a, index) for a in pred.args)
        if op == "and":
            # a row-by-row answer when both sides hold for some rows only
            return lambda rows, width: (
                False
                if (a := left(rows, width)) is False
                else (b if (b := right(rows, width)) is False or a is True else each(rows, width))
            )
        return lambda rows, width: (
            True
            if (a := left(rows, width)) is True
            else (b if (b := right(rows, width)) is True or a is False else each(rows, width))
        )
    if op == "not":
        inner = compile_run_pred(pred.args[0], index)
        return lambda rows, width: None if (a := inner(rows, width)) is None else not a
    col = index.get(pred.field or "")
    if op not in {"eq", "in", "ne"} or pred.numeric or col is None:
        return each
    values = frozenset(pred.values)
    get = itemgetter(col)
    holds_inside = op != "ne"  # eq and in hold for the values listed, ne for the others

    def by_values(rows: Sequence[Row], width: int) -> bool | None:
        if col >= width:
            return each(rows, width)
        found = set(map(get, rows))
        if found <= values:
            return holds_inside
        if found.isdisjoint(values):
            return not holds_inside
        return None

    return by_values


def pred_fields(pred: ir.Pred) -> set[str]:
    found = {pred.field} if pred.field else set()
    for arg in pred.args:
        found |= pred_fields(arg)
    return found
