"""A line's trace as a tree of labelled nodes, for the audit report.

Input: one entry of trace.jsonl. Output: a `Node` tree with the same
content, in the same order, as `clearline explain` prints; labels are
message ids (translated where the tree is rendered), the rest is run data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clearline.reports.i18n import N_

__all__ = ["Node", "trace_tree"]


@dataclass(frozen=True, slots=True)
class Node:
    label: str  # a message id, or "" for a plain data node
    text: str
    children: tuple[Node, ...] = ()
    pre: bool = False  # source text: keep line breaks and indentation


def _n(label: str, text: str, *children: Node, pre: bool = False) -> Node:
    return Node(label, text, tuple(children), pre)


def trace_tree(t: dict[str, Any], run_dir: str) -> Node:
    """The explanation of one line; `run_dir` as the user names the run folder."""
    head = f"{t.get('kind', '')} {t.get('party', '')}  {t.get('amount', '')} {t.get('currency', '')}"
    fx = t.get("fx") or {}
    if fx:
        head += f"  ({fx.get('result', '')})"
    nodes: list[Node] = []
    c = t.get("contract") or {}
    nodes.append(
        _n(
            N_("contract"),
            f"{c.get('id', '')} v{c.get('version', '')}  {c.get('file', '')}  sha256:{c.get('sha256', '')}",
        )
    )
    clause = t.get("clause")
    if clause:
        text = clause.get("label", "") + (f" — {clause['text']}" if clause.get("text") else "")
        span = str(clause.get("span", ""))
        children = [_n("", span)]
        try:
            first = int(span.rsplit(":", 2)[1])
        except (IndexError, ValueError):
            first = 1
        excerpt = "\n".join(
            f"{first + i:>4} | {line}" for i, line in enumerate(str(clause.get("excerpt", "")).splitlines())
        )
        if excerpt:
            children.append(_n("", excerpt, pre=True))
        nodes.append(_n(N_("clause"), text, *children))
    if t.get("rule"):
        nodes.append(_n(N_("rule"), f"{t['rule'].get('text', '')}  ({t['rule'].get('span', '')})"))
    formula: list[Node] = []
    if t.get("arithmetic"):
        formula.append(_n("", str(t["arithmetic"])))
    units = t.get("units") or {}
    for shown in units.get("shown", []):
        formula.append(_n("", f"{shown['unit']}: {shown['arithmetic']}  -> {shown['amount']}"))
    more = int(units.get("count", 0)) - len(units.get("shown", []))
    if more > 0:
        formula.append(_n("", f"... +{more} ({units.get('note', '')})"))
    nodes.append(_n(N_("formula"), str(t.get("formula", "")), *formula))
    if "sum" in t:
        nodes.append(_n(N_("sum"), str(t["sum"])))
    if t.get("rounding"):
        steps = []
        for r in t["rounding"]:
            text = f"{r['point']}: {r['mode']} to {r['quantum']}"
            if "before" in r:
                text += f": {r['before']} -> {r['after']}"
                text += "" if r.get("declared") == "yes" else "  (default)"
            else:
                text += f" ({r.get('note', '')})"
            steps.append(_n("", text))
        nodes.append(_n(N_("rounding"), "", *steps))
    vat = t.get("vat")
    if vat:
        nodes.append(
            _n(N_("VAT"), f"{vat['rate']}: {vat['arithmetic']} -> {vat['rounded']}; gross {vat['gross']}")
        )
    if fx:
        fx_clause = (fx.get("clause") or {}).get("label", "")
        steps = [_n("", str(step)) for step in fx.get("arithmetic", [])]
        rounding = fx.get("rounding") or {}
        steps.append(
            _n(
                "",
                f"{fx.get('exact', '')} -> {rounding.get('mode', '')} {rounding.get('quantum', '')} "
                f"-> {fx.get('result', '')}",
            )
        )
        nodes.append(_n(N_("FX"), f"{fx.get('fixing', '')}, {fx.get('table', '')}, {fx_clause}", *steps))
    if t.get("from_lines"):
        parts = [_n("", f"{kind}: {', '.join(ids) or '-'}") for kind, ids in t["from_lines"].items()]
        nodes.append(_n(N_("from lines"), "", *parts))
    records = t.get("records") or {}
    if records.get("count"):
        shown = [str(r) for r in records.get("first", [])]
        listing = ", ".join(shown) + (" ..." if records["count"] > len(shown) else "")
        command = f"clearline explain {run_dir} {t.get('line_id', '')} --records"
        nodes.append(_n(N_("records"), str(records["count"]), _n("", listing), _n("", command)))
    return _n("", f"{t.get('line_id', '')}  {head}", *nodes)
