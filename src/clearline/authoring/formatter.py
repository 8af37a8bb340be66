"""Contract text -> the same contract in canonical layout (`clearline fmt`).

Input: a contract, amendment or library that parses. Output: its text with one
statement per line, two spaces of indentation per block, continuation lines one
step deeper, single spaces between words (none before `,` and `)`, none after
`(`, none around the `/` of increments), the columns of rate tables, tier tables,
party declarations and usage fields aligned, at most one blank line between
groups and numbers without leading zeros. Every comment stays where it was (a
trailing comment stays on its line); every line break the writer put inside a
statement stays (a continuation line).

It works on the concrete token stream (grammar.concrete), not the AST, so it
cannot drop what the AST does not hold. A construct it does not know (a rule
added to the grammar after this module) keeps the writer's own spacing between
its tokens: it is re-indented, never rewritten. Formatting changes only
whitespace and the spelling of numbers, so the plan is the same (the property
tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clearline.diagnostics import ClearlineError
from clearline.grammar.concrete import Comment, Node, Tok, comments, concrete_tree, tokens
from clearline.source import SourceFile

__all__ = ["KNOWN_RULES", "format_source", "format_text"]

INDENT = "  "

# The rules (after aliases) of clearline.lark this module was written for.
_RULES = """start contract import_file library amendment replace_clause add_clause remove_clause
    change_table example example_period example_usage example_fx example_expect negative_money
    tier_table tier_band bound band_price band_share version effective settle time_zone party
    party_currency party_country party_language usage_fields field_decl rate_table key_prefix
    key_value rate_row increments connect_fee product component matches measured subscription
    answered deduction components clause charge pay convert vat line_per commit distribute
    withhold discount split all_charges whole_invoice clause_list split_share commit_clause
    prorated step_pay step_keep step_label of_base of_remainder of_step fixed per_transaction
    tiers_step rest at_least floor at_most capped allowance pooled fix_period_end
    fix_record_date round_clause at_record at_line add sub mul div money_per money_block number
    share share_after share_of share_allocated base_amount larger smaller table_rate tier_ref
    tier_share field_value aggregate atom money unit or_ and_ not_ compare one_of starts_with
    pred_atom text table_key product_item example_item modifier fixing pred step_amount item
    pred_and rule band_rate term amount round_point discount_target library_item row_option
    commit_tail literal pred_not change party_attr sum step signed_money details detail
    detail_legal_name detail_address detail_postcode detail_city detail_country detail_vat_id
    detail_registration detail_iban detail_bic detail_payment_due time_bands time_band band_hours
    band_otherwise clause_band base_after base_allocated remainder_after
    share_remainder field_labels band_holidays band_on_holidays band_span equal_residual late_usage
    numbering own_unit payout_to refunds share_billed split_changes split_equally tier_over
    unit_of_account"""
KNOWN_RULES = frozenset(_RULES.split())

# Statements whose columns line up with their neighbours': the children (rule or
# token type) that start a new column, and the spaces after each column (the last
# figure repeats).
_ALIGNED: dict[str, tuple[frozenset[str], tuple[int, ...]]] = {
    "party": (frozenset({"NAME", "STRING", "party_currency", "party_country", "party_language"}), (1, 1, 2)),
    "field_decl": (frozenset({"FIELD_TYPE"}), (1,)),
    "rate_row": (frozenset({"money"}), (2, 1)),  # and the currency after the price
    "tier_band": (frozenset({"TO", "AT"}), (2,)),
}
_NUMBERS = {"NUMBER", "INT", "PERCENT"}


@dataclass(slots=True)
class _Info:
    owner: str  # the innermost rule holding the token
    statement: tuple[int, str] | None = None  # (block, rule) when the token starts a statement
    cell: bool = False  # starts a new aligned column
    aligned: tuple[int, str] | None = None  # the alignment group of the statement it starts


@dataclass(slots=True)
class _Line:
    depth: int
    cells: list[str] = field(default_factory=list)
    comment: str | None = None
    blank_before: bool = False
    group: tuple[int, str] | None = None
    gaps: list[int] = field(default_factory=list)


def _first_token(node: Node | Tok) -> Tok:
    while isinstance(node, Node):
        node = node.children[0]
    return node


def _annotate(root: Node, known: frozenset[str]) -> dict[int, _Info]:
    """Per token (by start offset): its owner, whether it starts a statement, its column."""
    info: dict[int, _Info] = {}

    def walk(node: Node) -> None:
        for child in node.children:
            if isinstance(child, Tok):
                info[child.start] = _Info(node.rule)
            else:
                walk(child)
        braces = [
            i for i, c in enumerate(node.children) if isinstance(c, Tok) and c.type in {"LBRACE", "RBRACE"}
        ]
        if len(braces) == 2:
            block = _first_token(node).start
            for child in node.children[braces[0] + 1 : braces[1]]:
                head = info[_first_token(child).start]
                rule = child.rule if isinstance(child, Node) else child.type
                head.statement = (block, rule)
                if isinstance(child, Node) and child.rule in _ALIGNED.keys() & known and _one_line(child):
                    head.aligned = (block, child.rule)
                    starts, _ = _ALIGNED[child.rule]
                    for part in child.children[1:]:
                        name = part.rule if isinstance(part, Node) else part.type
                        if name in starts:
                            info[_first_token(part).start].cell = True
                    if child.rule == "rate_row":  # the currency after the row's price
                        money = next(p for p in child.children if isinstance(p, Node) and p.rule == "money")
                        currency = money.children[-1]
                        assert isinstance(currency, Tok)
                        info[currency.start].cell = True

    walk(root)
    info[_first_token(root).start].statement = (-1, root.rule)
    return info


def _one_line(node: Node) -> bool:
    toks = tokens(node)
    return toks[0].line == toks[-1].end_line


def _spell(tok: Tok, owner: str, known: frozenset[str]) -> str:
    """Numbers without leading zeros (`007.50` -> `7.50`): the same value, one spelling."""
    if tok.type not in _NUMBERS or owner not in known:
        return tok.value
    whole, dot, rest = tok.value.partition(".")
    digits = whole.rstrip("%")
    return (digits.lstrip("0") or "0") + whole[len(digits) :] + dot + rest


def _space(text: str, prev: Tok, tok: Tok, prev_owner: str, owner: str, known: frozenset[str]) -> str:
    if prev_owner not in known or owner not in known:
        return text[prev.end : tok.start]  # a construct this formatter does not know: as written
    if tok.value in {",", ")"} or prev.value == "(":
        return ""
    if "/" in (tok.value, prev.value) and owner == "increments":
        return ""
    if prev.value == "-" and prev_owner == "negative_money":
        return ""
    if tok.type == "RBRACE" and prev.type == "LBRACE":
        return ""
    return " "


def format_text(source: SourceFile, known: frozenset[str] = KNOWN_RULES) -> str:
    """The canonical text of a file that parses (ClearlineError with its diagnostics if not).

    `known`: the rules laid out canonically; the tokens of any other rule keep their spacing."""
    root = concrete_tree(source)
    text = source.text
    toks = tokens(root)
    info = _annotate(root, known)
    items: list[Tok | Comment] = sorted([*toks, *comments(text, toks)], key=lambda x: x.start)
    lines: list[_Line] = []
    depth = 0
    prev: Tok | Comment | None = None
    for item in items:
        if isinstance(item, Comment):
            if prev is not None and isinstance(prev, Tok) and item.line == prev.end_line:
                lines[-1].comment = item.text
            else:
                after_brace = isinstance(prev, Tok) and prev.type == "LBRACE"
                lines.append(
                    _Line(depth, [item.text], blank_before=not after_brace and _blank(text, prev, item))
                )
            prev = item
            continue
        tok, meta = item, info[item.start]
        if tok.type == "RBRACE":
            depth -= 1
        if prev is None or isinstance(prev, Comment):
            new_line, continuation = (
                True,
                meta.statement is None and tok.type != "RBRACE" and prev is not None,
            )
        elif tok.type == "RBRACE":
            new_line, continuation = prev.type != "LBRACE", False
        elif tok.type == "LBRACE":
            new_line, continuation = False, False
        elif prev.type == "LBRACE" or meta.statement is not None:
            new_line, continuation = True, False
        else:
            new_line = tok.line != prev.end_line
            continuation = True
        if new_line:
            blank = prev is not None and not (isinstance(prev, Tok) and prev.type == "LBRACE")
            line = _Line(depth + (1 if continuation else 0), [_spell(tok, meta.owner, known)])
            line.blank_before = blank and tok.type != "RBRACE" and _blank(text, prev, tok)
            line.group = meta.aligned
            lines.append(line)
        else:
            assert isinstance(prev, Tok)
            line = lines[-1]
            if meta.cell and line.group is not None:
                rule = line.group[1]
                if rule == "tier_band" and tok.type == "AT" and len(line.cells) == 1:
                    line.cells.append("")  # no upper bound: an empty `to` column
                line.cells.append(_spell(tok, meta.owner, known))
                gaps = _ALIGNED[rule][1]
                line.gaps = [gaps[min(k, len(gaps) - 1)] for k in range(len(line.cells) - 1)]
            else:
                line.cells[-1] += _space(text, prev, tok, info[prev.start].owner, meta.owner, known)
                line.cells[-1] += _spell(tok, meta.owner, known)
        if tok.type == "LBRACE":
            depth += 1
        prev = tok
    formatted = _render(lines)
    _same_words(source, toks, len(items) - len(toks), formatted, info, known)
    return formatted


def _same_words(
    source: SourceFile,
    toks: list[Tok],
    notes: int,
    formatted: str,
    info: dict[int, _Info],
    known: frozenset[str],
) -> None:
    """The formatted text must read as the same tokens (numbers respelled) and comments: a
    formatter bug is an error here, never a contract rewritten into something else."""
    try:
        new = tokens(concrete_tree(SourceFile(source.name, formatted)))
    except ClearlineError:
        new = []
    words = [(t.type, _spell(t, info[t.start].owner, known)) for t in toks]
    if [(t.type, t.value) for t in new] != words or len(comments(formatted, new)) != notes:
        raise RuntimeError(
            f"the formatter would change the words of {source.name}; the file is left as it is"
        )


def _blank(text: str, prev: Tok | Comment | None, item: Tok | Comment) -> bool:
    """A blank line in the source between two items (the first item of a file: none)."""
    if prev is None:
        return False
    return "\n\n" in text[prev.end : item.start].replace(" ", "").replace("\t", "").replace("\r", "")


def _render(lines: list[_Line]) -> str:
    widths: dict[int, list[int]] = {}
    i = 0
    while i < len(lines):  # groups of consecutive aligned statements of one kind
        j = i
        if lines[i].group is not None:
            while (
                j + 1 < len(lines) and lines[j + 1].group == lines[i].group and not lines[j + 1].blank_before
            ):
                j += 1
            columns: list[int] = []
            for line in lines[i : j + 1]:
                for k, cell in enumerate(line.cells[:-1]):
                    if k == len(columns):
                        columns.append(0)
                    columns[k] = max(columns[k], len(cell))
            for k in range(i, j + 1):
                widths[k] = columns
        i = j + 1
    out: list[str] = []
    for k, line in enumerate(lines):
        if line.blank_before and out:
            out.append("")
        if k in widths:
            body = "".join(cell.ljust(widths[k][c] + line.gaps[c]) for c, cell in enumerate(line.cells[:-1]))
            body += line.cells[-1]
        else:
            body = "".join(line.cells)
        if line.comment is not None:
            body += "  " + line.comment
        out.append((INDENT * line.depth + body).rstrip())
    return "\n".join(out) + "\n"


def format_source(source: SourceFile) -> tuple[str, bool]:
    """(canonical text, whether it differs from the file's)."""
    formatted = format_text(source)
    return formatted, formatted != source.text
