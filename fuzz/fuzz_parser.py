"""Fuzz the contract front end: bytes -> contract file -> plan, or diagnostics.

Each input is written as a contract file and loaded as `clearline validate`
and `simulate` load it (`clearline.load_plans`: read, parse, check, link,
lower). What must hold, whatever the bytes:

- the load ends in plans or in a `ClearlineError` whose diagnostics carry
  registered codes, and those diagnostics render (`render_all`) without error;
- a plan prints (`format_plan`) and survives its JSON form unchanged;
- the worked examples of a contract that loads run (`run_examples`) to results
  or a `ClearlineError`.

An input that is an amendment is linked with copies of the bundled StreamPlus
and NordCarrier contracts; a library (`shared.contract`) lies beside the
input for imports. Anything else (another exception, a broken invariant) is
a finding, saved in fuzz/findings/. Seeds: the bundled contracts, the
diagnostics fixtures, the documentation's example, an importing contract, a
library and two amendments; the libFuzzer dictionary holds the grammar's
keywords.

    .venv/bin/python fuzz/fuzz_parser.py --seconds 600
    .venv/bin/python fuzz/fuzz_parser.py --replay fuzz/findings/parser-0123456789ab.contract
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

NAME = "fuzz_parser"


# A library beside the fuzzed file, for inputs that import it.
LIBRARY = """\
library telcopl-common "TelcoPL's parties and rate cards" {
  operator telcopl "TelcoPL S.A." currency PLN country PL language pl
  partner  nordcarrier "NordCarrier AB" currency EUR country SE language en
  usage fields {
    service     text
    destination text
  }
  rate table termination by longest prefix of destination {
    "48"  0.0090 EUR per minute, increments 60/60
    "49"  0.0120 EUR per minute, increments 1/1
  }
  tiers volume_share graduated {
    from 0 EUR to 1000 EUR at 70%
    from 1000 EUR at 60%
  }
}
"""

IMPORTING = """\
contract NC-2027 "Termination on the shared rate card" {
  import "shared.contract"
  version 1
  effective 2027-01-01 until 2028-01-01
  settle monthly in EUR, time zone Europe/Warsaw
  product voice "Voice termination" {
    matches service = "voice-out"
    measured in seconds
    clause "5.1 Termination rates" {
      pay nordcarrier the rate from table termination
      round each line half up to 0.01
      one line per prefix
    }
  }
}
"""

AMENDMENT = """\
amendment of SP-2026 from 2026-03-15 "Revenue share raised to 60%" {
  version 4
  replace clause "4.2 Revenue share" "StreamCo receives 60% of net revenue." {
    pay streamco the larger of 60% of net and 18.00 PLN per subscriber-month, prorated by active days
    round the period total half up to 0.01
  }
  remove clause "6.1 Payment currency"
}
"""

TABLE_AMENDMENT = """\
amendment of NC-2026 from 2026-06-01 {
  version 2
  change table termination {
    "4860"  0.0140 EUR per minute, increments 30/6, connect fee 0.0010 EUR
    "44"    0.0200 EUR per minute, increments 1/1
  }
  add to product voice clause "5.2 Surcharge" {
    pay nordcarrier 0.0010 EUR per minute
    round each line half up to 0.01
  }
}
"""


def seeds() -> dict[str, bytes]:
    paths = [
        *sorted((common.ROOT / "contracts").glob("*.contract")),
        *sorted((common.ROOT / "docs" / "examples").glob("*.contract")),
        *sorted((common.ROOT / "tests" / "diagnostics").glob("*.contract")),
    ]
    found = {f"{p.parent.name}-{p.name}": p.read_bytes() for p in paths}
    for name, text in (
        ("importing", IMPORTING),
        ("amendment", AMENDMENT),
        ("table-amendment", TABLE_AMENDMENT),
        ("library", LIBRARY),
    ):
        found[name] = text.encode()
    return found


def dictionary() -> list[bytes]:
    grammar = (common.ROOT / "src" / "clearline" / "grammar" / "clearline.lark").read_text(encoding="utf-8")
    words = set(re.findall(r'"([^"\\]+)"', grammar))
    for pattern in re.findall(r"/\(([a-z| -]+)\)\(\?!", grammar):  # keyword terminals: (a|b|c)
        words |= set(pattern.split("|"))
    words |= {"EUR", "PLN", "JPY", "BHD", "2026-03-01", "Europe/Warsaw", '\\"', "\\n", "0.0001", "100%"}
    return [w.encode() for w in sorted(words)]


def main() -> int:
    options = common.parse_args(NAME, __doc__ or "", max_len=16_384)
    with common.instrumented_imports(options):
        import clearline
        from clearline.compiler import ir
        from clearline.compiler.printer import format_plan
        from clearline.diagnostics import CODES, ClearlineError, render_all
        from clearline.examples import run_examples
        from clearline.source import SourceFile

    folder = Path(tempfile.mkdtemp(prefix="clearline-fuzz-parser-"))
    path = folder / "fuzz.contract"
    (folder / "shared.contract").write_text(LIBRARY, encoding="utf-8")
    bundled = []
    for contract in ("streamplus.contract", "nordcarrier.contract"):
        bundled.append(folder / "bundled" / contract)
        bundled[-1].parent.mkdir(exist_ok=True)
        bundled[-1].write_bytes((common.ROOT / "contracts" / contract).read_bytes())

    def load(given: Path) -> tuple[list[Any], list[Any]]:
        try:
            return clearline.load_plans([given])
        except ClearlineError as err:
            if any(d.code == "E0410" and "among the files given" in d.message for d in err.diagnostics):
                # an amendment: link it to the bundled contracts it may amend
                return clearline.load_plans([given, *bundled])
            raise

    def one_input(data: bytes) -> None:
        path.write_bytes(data)
        try:
            plans, warnings = load(path)
        except ClearlineError as err:
            unknown = sorted({d.code for d in err.diagnostics} - set(CODES))
            if unknown or not err.diagnostics:
                raise common.Finding(f"diagnostics without a registered code: {unknown}") from None
            try:
                sources = {str(path): SourceFile(str(path), data.decode("utf-8-sig"))}
            except UnicodeDecodeError:
                sources = {}
            render_all(err.diagnostics, sources)
            return
        render_all(warnings, {str(path): SourceFile(str(path), data.decode("utf-8-sig"))})
        for plan in plans:
            format_plan(plan)
            again = ir.from_json(json.loads(json.dumps(ir.to_json(plan))))
            if again != plan:
                raise common.Finding("a plan changes through its JSON form")
        try:
            run_examples([path])
        except ClearlineError as err:
            if {d.code for d in err.diagnostics} - set(CODES):
                raise common.Finding("example diagnostics without a registered code") from None

    return common.fuzz(NAME, ".contract", options, one_input, seeds(), dictionary())


if __name__ == "__main__":
    sys.exit(main())
