"""Field labels (issue 9, smaller defects): how documents name a usage field, so that no
identifier (`active sims`) shows on a German or Polish invoice."""

from __future__ import annotations

import clearline
from clearline import codes
from clearline.source import SourceFile
from test_language import contract

BODY = """
  usage fields {
    service     text
    active_sims integer LABELS
  }
  product iot "IoT" {
    matches service = "data"
    measured in MB
    clause "2.1 SIM fee" {
      charge customer 0.80 EUR per month times the maximum of active_sims
      round each line half up to 0.01
    }
  }
"""


def _diagnostics(labels: str) -> list[tuple[str, str]]:
    text = contract("FI-1", "EUR", BODY.replace("LABELS", labels))
    return [(d.code, d.message) for d in clearline.check(clearline.parse(SourceFile("c.contract", text)))]


def test_labels_reach_the_plan_per_language() -> None:
    text = contract("FI-1", "EUR", BODY.replace("LABELS", '"active SIMs", de "aktiven SIM-Karten"'))
    plan = clearline.plan(SourceFile("c.contract", text))
    (field,) = [f for f in plan.fields if f.name == "active_sims"]
    assert field.labels == (("", "active SIMs"), ("de", "aktiven SIM-Karten"))
    assert [
        c for c, _ in _diagnostics('"active SIMs", de "aktiven SIM-Karten"') if c == codes.FIELD_WITHOUT_LABEL
    ] == []


def test_an_aggregated_field_without_a_label_is_a_warning_and_bad_labels_errors() -> None:
    assert (
        codes.FIELD_WITHOUT_LABEL,
        'invoices show the maximum of `active_sims` by the field\'s name, "active sims", in every language',
    ) in _diagnostics("")
    found = _diagnostics('"active SIMs", fr "SIM actives", de "a", de "b", en "c"')
    assert (codes.UNKNOWN_NAME, "documents are not written in `fr`") in found
    assert (codes.DUPLICATE_NAME, "the field `active_sims` is labelled twice in de") in found
    assert (codes.DUPLICATE_NAME, "the field `active_sims` is labelled twice in en") in found
