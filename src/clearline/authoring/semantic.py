"""Two settlement plans -> what changed between them, in the contract's own words.

Input: the plans of two contracts, or of two versions of one contract (an
amendment applied). Output: `Change`s, each a thing the contract declares
(the contract's terms, a party, a usage field, a product, a rate table row, a
tier table, a clause) added, removed or changed, with the old and the new text
as the contract writes it and where each is written. Clauses are matched by
label within their product; a clause has changed when what it makes the engine
do has changed (its plan, without source positions), and its statements are
shown from its source excerpt, so a rounding, a VAT rate or a share appears as
the line the writer wrote. Whitespace and comments are not changes.

It compares plans, not text: a reformatted contract has no changes, and a
construct added to the language later shows up through its clause's words.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clearline.compiler import ir
from clearline.compiler.bands import describe

__all__ = ["Change", "contract_changes", "render_changes"]

_PLACES = frozenset({"span", "excerpt", "sha256", "file", "sources"})


@dataclass(frozen=True, slots=True)
class Change:
    """`what` ("clause", "party", "rate table"...) `name` was added, removed or changed."""

    what: str
    name: str
    change: str  # "added", "removed" or "changed"
    old: tuple[str, ...]  # the old words (statements) that differ
    new: tuple[str, ...]
    old_at: str | None = None  # file:line:col of the old declaration
    new_at: str | None = None
    product: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "name": self.name,
            "product": self.product,
            "change": self.change,
            "old": list(self.old),
            "new": list(self.new),
            "old_at": self.old_at,
            "new_at": self.new_at,
        }


def _meaning(value: Any) -> Any:
    """Plan JSON without its source places; quoted rule texts compared without their spacing
    (`60 / 60` is `60/60`: the text is only shown, its meaning is in the other fields)."""
    if isinstance(value, dict):
        return {
            k: "".join(v.split()) if k == "text" and isinstance(v, str) else _meaning(v)
            for k, v in value.items()
            if k not in _PLACES
        }
    if isinstance(value, list):
        return [_meaning(v) for v in value]
    return value


def _at(span: dict[str, Any] | None) -> str | None:
    return f"{span['file']}:{span['line']}:{span['col']}" if span else None


def _code(line: str) -> str:
    """A source line without its comment (a `#` outside quotes), whitespace collapsed."""
    quoted = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            line = line[:i]
            break
    return " ".join(line.split())


def statements(excerpt: str) -> list[str]:
    """The statements of a clause from its source lines: the body between its braces, a
    statement a line (a continuation line joined to its statement), braces and comments left out."""
    lines = [_code(line) for line in excerpt.splitlines()]
    text = "\n".join(lines)
    body = text[text.find("{") + 1 : text.rfind("}")] if "{" in text else ""
    out: list[str] = []
    for line in body.splitlines():
        line = line.strip().rstrip("{").strip()
        if not line or line == "}":
            continue
        if out and (out[-1].endswith(",") or line.startswith(",")):
            out[-1] = (out[-1] + " " + line).replace(" ,", ",")
        else:
            out.append(line)
    return out


def _party(p: dict[str, Any]) -> str:
    words = [p["role"], p["name"], json.dumps(p["title"], ensure_ascii=False), "currency", p["currency"]]
    words += ["country", p["country"]] if p.get("country") else []
    words += ["language", p["language"]] if p.get("language") else []
    return " ".join(words)


def _key(t: dict[str, Any]) -> str:
    kind = "longest prefix" if t.get("key_kind") == "prefix" else "value"
    return f"{kind} of {t.get('field')}"


def _field(f: dict[str, Any]) -> str:
    return f"{f['name']} {f['type']}"


def _words(
    items: list[dict[str, Any]], key: str, words: Callable[[dict[str, Any]], str]
) -> dict[str, tuple[str, str | None]]:
    return {str(item[key]): (words(item), None) for item in items}


def _row(r: dict[str, Any]) -> str:
    text = f'"{r["key"]}" {r["price"]} {r["currency"]} per {r["per"]}'
    if r.get("first") is not None:
        text += f", increments {r['first']}/{r['next']}"
    if r.get("connect_fee") is not None:
        text += f", connect fee {r['connect_fee']} {r['currency']}"
    return text


def _bands(t: dict[str, Any]) -> list[str]:
    """A tier table as written: its heading, then a band a line (a share table's bounds are
    money in its currency; a price table's are quantities)."""
    out = [f"tiers {t['name']} {t['mode']}"]
    bound = f" {t['currency']}" if t.get("kind") == "share" and t.get("currency") else ""
    for b in t["bands"]:
        upper = f" to {b['upper']}{bound}" if b.get("upper") is not None else ""
        if t.get("kind") == "price":
            rate = f"{b['rate']} {t.get('currency') or ''} per {t.get('unit') or ''}".replace("  ", " ")
        else:
            rate = f"{(Decimal(b['rate']) * 100).normalize():f}%"
        out.append(f"from {b['lower']}{bound}{upper} at {rate}")
    return out


def _clauses(product: dict[str, Any]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """Label -> (its clause reference, the plan items it makes), from every list of the
    product whose items name a clause (whatever kinds of rule the language has)."""
    found: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for key, items in product.items():
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("clause"), dict):
                ref = item["clause"]
                found.setdefault(ref["label"], (ref, []))[1].append([key, _meaning(item)])
    return found


def _lines(old: list[str], new: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The old statements that are not in the new, and the new not in the old (in order)."""
    gone: list[str] = []
    came: list[str] = []
    for op, a, b, c, d in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            gone += old[a:b]
            came += new[c:d]
    return tuple(gone), tuple(came)


def _keyed(
    what: str,
    old: Mapping[str, tuple[str, str | None]],
    new: Mapping[str, tuple[str, str | None]],
    product: str | None = None,
) -> Iterator[Change]:
    """Changes between two name -> (words, where) maps."""
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            yield Change(what, name, "removed", (old[name][0],), (), old[name][1], None, product)
        elif name not in old:
            yield Change(what, name, "added", (), (new[name][0],), None, new[name][1], product)
        elif "".join(old[name][0].split()) != "".join(new[name][0].split()):  # spacing is no change
            yield Change(
                what, name, "changed", (old[name][0],), (new[name][0],), old[name][1], new[name][1], product
            )


def _contract_terms(p: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    terms: dict[str, tuple[str, str | None]] = {
        "title": (json.dumps(p["title"], ensure_ascii=False), None),
        "effective": (f"effective {p['effective_from']} until {p['effective_until']}", None),
        "settle": (f"settle {p['period']} in {p['currency']}, time zone {p['time_zone']}", None),
    }
    # the time bands, as the products priced by band carry them (one declaration a contract)
    bands = next((pr["bands"] for pr in p["products"] if isinstance(pr.get("bands"), dict)), None)
    if bands is not None:
        terms["time bands"] = (_time_bands(bands), None)
    return terms


def _time_bands(t: dict[str, Any]) -> str:
    """`time bands in Europe/Warsaw: peak "Peak" Monday 08:00 to 20:00, ...; off_peak ...`,
    each band's minutes of the week as `compile` prints them (`bands.describe`)."""
    parts = [
        f'{band["name"]} "{band["label"]}" ' + ", ".join(describe(int(a), int(b)) for a, b in band["week"])
        for band in t["bands"]
    ]
    holidays = t.get("holidays") or []
    tail = f"; holidays {', '.join(holidays)} in {t.get('holiday_band')}" if holidays else ""
    return f"time bands in {t['zone']}: " + "; ".join(parts) + tail


def _declared(
    value: Any, marker: str, found: dict[str, dict[str, Any]], needs: str = "name"
) -> dict[str, dict[str, Any]]:
    """Every table of the plan, wherever a rule holds it (a product's tables, a waterfall
    step's tiers...): the dicts with a name, `marker` ("rows" or "bands") and `needs`."""
    if isinstance(value, dict):
        if marker in value and "name" in value and needs in value:
            found.setdefault(str(value["name"]), value)
        for v in value.values():
            _declared(v, marker, found, needs)
    elif isinstance(value, list):
        for v in value:
            _declared(v, marker, found, needs)
    return found


def _tables(products: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return _declared(products, "rows", {})


def _tiers(products: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The tier tables: dicts with bands and a mode (a product priced by time bands also
    holds `bands`, the contract's time bands, which are no tier table)."""
    return _declared(products, "bands", {}, needs="mode")


def contract_changes(old: ir.ContractPlan, new: ir.ContractPlan) -> list[Change]:
    """Every declared thing added, removed or changed from `old` to `new`."""
    a, b = ir.to_json(old), ir.to_json(new)
    changes = list(_keyed("contract", _contract_terms(a), _contract_terms(b)))
    changes += _keyed("party", _words(a["parties"], "name", _party), _words(b["parties"], "name", _party))
    changes += _keyed("usage field", _words(a["fields"], "name", _field), _words(b["fields"], "name", _field))
    old_tables, new_tables = _tables(a["products"]), _tables(b["products"])
    for name in sorted(old_tables.keys() | new_tables.keys()):
        was_rows = _words(old_tables[name]["rows"], "key", _row) if name in old_tables else {}
        now_rows = _words(new_tables[name]["rows"], "key", _row) if name in new_tables else {}
        was_head = (
            {"": (f"rate table {name} by {_key(old_tables[name])}", None)} if name in old_tables else {}
        )
        now_head = (
            {"": (f"rate table {name} by {_key(new_tables[name])}", None)} if name in new_tables else {}
        )
        for c in _keyed("heading", was_head, now_head):
            changes.append(Change(f"rate table {name}", "heading", c.change, c.old, c.new))
        for c in _keyed("row", was_rows, now_rows):
            changes.append(Change(f"rate table {name}", f'row "{c.name}"', c.change, c.old, c.new))
    old_tiers, new_tiers = _tiers(a["products"]), _tiers(b["products"])
    for name in sorted(old_tiers.keys() | new_tiers.keys()):
        was = _bands(old_tiers[name]) if name in old_tiers else []
        now = _bands(new_tiers[name]) if name in new_tiers else []
        if was != now:
            kind = "added" if not was else "removed" if not now else "changed"
            gone, came = _lines(was, now)
            places = (_at(t.get("span")) if t else None for t in (old_tiers.get(name), new_tiers.get(name)))
            changes.append(Change("tiers", name, kind, gone, came, *places))
    old_products = {p["name"]: p for p in a["products"]}
    new_products = {p["name"]: p for p in b["products"]}
    for name in sorted(old_products.keys() | new_products.keys()):
        changes += _product_changes(name, old_products.get(name), new_products.get(name))
    return changes


def _product_head(p: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    head = {"title": (json.dumps(p["title"], ensure_ascii=False), _at(p.get("span")))}
    head["matches"] = (" ".join(f"matches {p['matches']['text']}".split()), None)
    head["measured"] = (f"measured in {p['measure']}", None)
    if p.get("starts") and p.get("ends"):
        head["subscription"] = (
            f"subscription starts when {p['starts']['text']}, ends when {p['ends']['text']}",
            None,
        )
    elif p.get("answered"):
        head["answered"] = (" ".join(f"answered when {p['answered']['text']}".split()), None)
    return head


def _product_changes(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    if old is None or new is None:
        here = old or new
        assert here is not None
        change = "removed" if new is None else "added"
        words = tuple(words for words, _ in _product_head(here).values())
        at = _at(here.get("span"))
        return [
            Change(
                "product",
                name,
                change,
                words if old else (),
                words if new else (),
                at if old else None,
                at if new else None,
            )
        ]
    changes = [
        Change(f"product {name}", c.name, "changed", c.old, c.new, c.old_at, c.new_at, name)
        for c in _keyed("product", _product_head(old), _product_head(new), name)
    ]
    old_clauses, new_clauses = _clauses(old), _clauses(new)
    for label in sorted(
        old_clauses.keys() | new_clauses.keys(), key=lambda x: _order(x, old_clauses, new_clauses)
    ):
        was, now = old_clauses.get(label), new_clauses.get(label)
        quoted = json.dumps(label, ensure_ascii=False)
        if now is None:
            assert was is not None
            ref = was[0]
            changes.append(
                Change(
                    "clause",
                    quoted,
                    "removed",
                    tuple(statements(ref["excerpt"])),
                    (),
                    _at(ref["span"]),
                    None,
                    name,
                )
            )
        elif was is None:
            ref = now[0]
            changes.append(
                Change(
                    "clause",
                    quoted,
                    "added",
                    (),
                    tuple(statements(ref["excerpt"])),
                    None,
                    _at(ref["span"]),
                    name,
                )
            )
        elif was[1] != now[1] or was[0].get("text") != now[0].get("text"):
            gone, came = _lines(statements(was[0]["excerpt"]), statements(now[0]["excerpt"]))
            if was[0].get("text") != now[0].get("text"):
                gone = (json.dumps(was[0].get("text") or "", ensure_ascii=False), *gone)
                came = (json.dumps(now[0].get("text") or "", ensure_ascii=False), *came)
            changes.append(
                Change(
                    "clause", quoted, "changed", gone, came, _at(was[0]["span"]), _at(now[0]["span"]), name
                )
            )
    return changes


def _order(label: str, *maps: dict[str, tuple[dict[str, Any], list[Any]]]) -> tuple[int, str]:
    """Clauses in the order they are written (the new contract's, else the old one's)."""
    for m in reversed(maps):
        if label in m:
            return int(m[label][0]["span"]["line"]), label
    return 0, label


def render_changes(
    old: ir.ContractPlan, new: ir.ContractPlan, changes: list[Change], files: tuple[str, str] | None = None
) -> str:
    """The changes as text: a heading per change, `-` old words, `+` new words. `files`: the
    names to show for the two sides (default: the plans' contract files)."""
    was, now = files or (old.file, new.file)
    out = [f"{old.id} version {old.version} ({was}) -> {new.id} version {new.version} ({now})"]
    if not changes:
        out.append("no changes: both settle the same way")
    for c in changes:
        where = " in product " + c.product if c.product and c.what == "clause" else ""
        places = " -> ".join(p for p in (c.old_at, c.new_at) if p)
        out.append(f"{c.what} {c.name}{where}: {c.change}" + (f"  ({places})" if places else ""))
        out += [f"  - {line}" for line in c.old]
        out += [f"  + {line}" for line in c.new]
    return "\n".join(out) + "\n"
