"""A new user's first hour (issue 17): the surprises a first session met, each pinned.

The summary names the first rejects with their reasons; routed files appear
only with `--out-of-period route`; `--help` shows no type placeholders and
`--version` answers; `clearline validate` starts without the runtime, rich's
progress bar, jinja2 or pyarrow; `clearline new contract` writes a starting
agreement of each kind that validates and passes its worked example.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.cli.new import Kind
from conftest import ROOT, read_csv

GAMESTUDIO = [
    "simulate",
    "contracts/gamestudio.contract",
    "--usage",
    "contracts/data/dcb-purchases.csv",
    "--period",
    "2026-03",
    "--fx",
    "contracts/data/fx-rates.csv",
]


@pytest.fixture
def in_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory is a copy of the bundled contracts, as the README assumes."""
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_summary_names_the_first_rejects_with_their_reasons(in_copy: Path) -> None:
    """The two DCB purchases stamped +01:00 on 31 March fall on 1 April in Warsaw
    (23:05+01:00 = 00:05+02:00): the summary shows each with its line and reason."""
    result = CliRunner().invoke(app, [*GAMESTUDIO, "--out", "out/gs"])
    assert result.exit_code == 3, result.output
    assert (
        "rejected: contracts/data/dcb-purchases.csv:186 DCB-00185 (timestamp '2026-03-31T23:05:00+01:00'): "
        "outside the settled period 2026-03" in result.output
    )
    assert "it is 2026-04-01T00:05:00+02:00 in Europe/Warsaw" in result.output
    assert "rejected: contracts/data/dcb-purchases.csv:930 DCB-00929" in result.output
    assert "more rejected" not in result.output  # two shown of two


def test_the_summary_shows_five_rejects_and_counts_the_rest(in_copy: Path) -> None:
    """Eight records of April in a March run: five shown, "... and 3 more"."""
    rows = ["record_id,timestamp,customer_id,service,merchant,amount,currency"]
    rows += [
        f"A-{i},2026-04-0{i}T12:00:00+02:00,C-1001,carrier-billing,gamestudio,12.30,PLN" for i in range(1, 9)
    ]
    Path("april.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = [*GAMESTUDIO[:2], "--usage", "april.csv", "--period", "2026-03", "--out", "out/a"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 3, result.output
    shown = [line for line in result.output.splitlines() if line.startswith("rejected: april.csv:")]
    assert [line.split()[1] for line in shown] == [f"april.csv:{n}" for n in range(2, 7)]
    assert "... and 3 more rejected record(s)" in result.output


def test_routed_files_are_written_only_when_routing(in_copy: Path) -> None:
    """Without --out-of-period route a run folder has no routed.csv / routed.jsonl (and a
    second run into a folder that had them removes them); with it, both list the 2 records."""
    runner = CliRunner()
    routed = runner.invoke(app, [*GAMESTUDIO, "--out", "out/gs", "--out-of-period", "route"])
    assert routed.exit_code == 0, routed.output
    assert [r["record_id"] for r in read_csv(Path("out/gs/routed.csv"))] == ["DCB-00185", "DCB-00929"]
    assert Path("out/gs/routed.jsonl").is_file()
    rejected = runner.invoke(app, [*GAMESTUDIO, "--out", "out/gs"])
    assert rejected.exit_code == 3, rejected.output
    names = {p.name for p in Path("out/gs").iterdir()}
    assert not {n for n in names if n.startswith("routed")}, names
    fresh = runner.invoke(app, [*GAMESTUDIO, "--out", "out/fresh"])
    assert fresh.exit_code == 3
    assert not list(Path("out/fresh").glob("routed*"))


def _commands() -> list[list[str]]:
    """Every command and command group's path, e.g. ["new", "contract"]."""
    found: list[list[str]] = [[]]
    group = typer.main.get_command(app)

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(group, [])
    return found


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "clearline")
def test_help_shows_no_type_placeholders(path: list[str]) -> None:
    """No `<bool>`, `<list[Path]>`, `<int range>` beside the options (typer 0.25+ prints them)."""
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert re.findall(r"<[\w\[\]| ]+>", result.output) == []
    assert "Usage: clearline" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"clearline {clearline.__version__}\n"


HEAVY = (
    *("clearline.runtime", "clearline.reports", "jinja2", "babel", "rich.progress"),
    *("pyarrow", "polars", "duckdb"),
)


@pytest.mark.parametrize(
    "argv",
    [["validate", "contracts/nordcarrier.contract"], ["--help"], ["test", "contracts/streamplus.contract"]],
)
def test_authoring_commands_do_not_import_the_runtime(argv: list[str]) -> None:
    """An import-graph check, not a timing: `validate`, `--help` and `test` of a
    contract load none of the engine, the reports, jinja2, babel, rich's progress bar
    or the columnar libraries (benchmarks/startup.py measures what that saves)."""
    script = (
        "import sys\n"
        "from clearline.cli import main\n"
        f"sys.argv = ['clearline', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print('LOADED', sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
        "print('EXIT', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    loaded = next(line for line in done.stdout.splitlines() if line.startswith("LOADED"))
    exit_line = next(line for line in done.stdout.splitlines() if line.startswith("EXIT"))
    assert exit_line in {"EXIT 0", "EXIT None"}, done.stdout + done.stderr
    if argv[0] == "test":  # worked examples are settled: the engine is needed, the documents are not
        loaded = re.sub(r"'clearline\.runtime[\w.]*',? ?", "", loaded)
    assert loaded == "LOADED []", loaded


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_new_contract_of_each_kind_validates_and_passes_its_example(kind: str, in_copy: Path) -> None:
    """The starting agreement is written as asked, with its comments, and passes both checks."""
    runner = CliRunner()
    written = runner.invoke(app, ["new", "contract", "acme.contract", "--kind", kind])
    assert written.exit_code == 0, written.output
    assert written.output == (
        f"wrote acme.contract: a starting {kind} agreement with one worked example\n"
        "next: clearline validate acme.contract && clearline test acme.contract\n"
    )
    text = Path("acme.contract").read_text(encoding="utf-8")
    assert "contract ACME-2026 " in text
    assert text.count("\n  #") >= 5  # commented: dates, parties, fields, clauses, example
    assert "example " in text and 'clause "' in text
    validated = runner.invoke(app, ["validate", "acme.contract"])
    assert (validated.exit_code, validated.output.splitlines()[0]) == (0, "1 contract(s) OK")
    tested = runner.invoke(app, ["test", "acme.contract"])
    assert tested.exit_code == 0, tested.output
    assert tested.output.startswith("PASS ACME-2026 example ")
    assert tested.output.endswith("1 passed, 0 failed\n")


def test_new_contract_defaults_to_revenue_share_and_never_overwrites(in_copy: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["new", "contract", "deal.contract"]).exit_code == 0
    assert "pay partnerco 55% of net" in Path("deal.contract").read_text(encoding="utf-8")
    Path("deal.contract").write_text("mine", encoding="utf-8")
    again = runner.invoke(app, ["new", "contract", "deal.contract", "--kind", "interconnect"])
    assert again.exit_code == 1
    assert "error[E0505]: deal.contract exists; Clearline does not overwrite it" in again.output
    assert Path("deal.contract").read_text(encoding="utf-8") == "mine"
    wrong = runner.invoke(app, ["new", "contract", "x.contract", "--kind", "barter"])
    assert wrong.exit_code == 2
    assert "Traceback" not in wrong.output


def test_documents_without_a_customers_file_name_the_customer_by_id(in_copy: Path) -> None:
    """No --customers: C-1001's invoice is addressed to C-1001 (not an empty name) and
    says its language is not known (not "language (—)"); 269 purchases, net 5,900.00."""
    runner = CliRunner()
    assert runner.invoke(app, [*GAMESTUDIO, "--out", "out/gs"]).exit_code == 3
    result = runner.invoke(app, ["report", "out/gs", "--format", "md"])
    assert result.exit_code == 0, result.output
    invoice = Path("out/gs/documents/invoice-2026-03-C-1001.md").read_text(encoding="utf-8")
    assert "## Bill to\n\n- **C-1001**\n- Customer number: C-1001\n" in invoice
    assert "> This document is in English because its recipient's language is not known.\n" in invoice
    assert "(—)" not in invoice
    assert "| 269 events |" in invoice and "5,900.00" in invoice
    html = runner.invoke(app, ["report", "out/gs", "--format", "html", "--lang", "pl"])
    assert html.exit_code == 0
    page = Path("out/gs/documents/invoice-2026-03-C-1001.html").read_text(encoding="utf-8")
    assert '<div class="name">C-1001</div>' in page


def test_benchmarks_run_with_plain_python3_after_the_quickstart(tmp_path: Path) -> None:
    """`python3 benchmarks/startup.py` in a fresh shell (no venv on PATH, not activated)
    finds the Quickstart's `.venv/bin/clearline` and prints both figures."""
    from test_readme import copy_of_the_repository

    venv = Path(sys.prefix)
    if not (venv / "bin" / "clearline").exists():
        pytest.skip("the tests do not run in a venv with the clearline console script")
    repo = copy_of_the_repository(tmp_path / "clearline")
    path = ":".join(p for p in os.environ["PATH"].split(":") if Path(p) != venv / "bin")
    python3 = shutil.which("python3", path=path)
    if python3 is None:
        pytest.skip("no python3 on PATH besides the tests' venv")
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "CLEARLINE_VENV"}}
    done = subprocess.run(
        [python3, "benchmarks/startup.py", "--repeat", "1"],
        cwd=repo,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("command") and "wall: fastest  median   cpu: fastest  median" in lines[0]
    assert lines[1].startswith("python -c pass ")
    assert lines[2].startswith("clearline validate contracts/nordcarrier.contract ")
    assert lines[3].startswith("clearline's own start-up: ")


def test_the_demo_s_next_command_runs_from_where_dev_py_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the repository the demo prints `.venv/bin/clearline report out/2026-03` (what
    the README runs next); from elsewhere, the same command with absolute paths."""
    sys.path.insert(0, str(ROOT))
    try:
        import dev
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(dev, "BIN", ROOT / ".venv" / "bin")
    monkeypatch.chdir(ROOT)
    assert "\n    .venv/bin/clearline report out/2026-03\n" in dev.next_steps()
    assert "`source .venv/bin/activate`" in dev.next_steps()
    monkeypatch.chdir(tmp_path)
    assert f"\n    {ROOT}/.venv/bin/clearline report {ROOT}/out/2026-03\n" in dev.next_steps()
