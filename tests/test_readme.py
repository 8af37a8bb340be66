"""The README and the language guide are tested: every command the README
shows runs as printed (in a copy of the repository, in one shell, in order),
every contract they show validates, and the diagnostic and outputs it shows
are what Clearline prints."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clearline
from clearline.cli import app
from clearline.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LANGUAGE = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    found = []
    for block in blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(shlex.split(line[2:]))
    return found


def test_quickstart_has_exactly_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert commands(quickstart) == [["python3", "dev.py", "demo"], ["python3", "dev.py", "test"]]


def test_demo_runs_the_readme_simulate_command() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import dev
    finally:
        sys.path.pop(0)
    simulate = next(c for c in commands(README) if c[:2] == ["clearline", "simulate"])
    assert ["clearline", *dev.DEMO] == simulate


def copy_of_the_repository(target: Path) -> Path:
    """The repository as a fresh clone has it, after the Quickstart: its files (no run
    folders, caches or generated benchmark data) and `.venv`, the environment the tests
    run in (a link: `python3 dev.py demo` made it, and finds it installed)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {".git", ".venv", "out", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        if here == ROOT / "benchmarks":
            skipped |= {"data", "out"}
        return {n for n in names if n in skipped or n.endswith(".egg-info")}

    shutil.copytree(ROOT, target, ignore=ignore)
    (target / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    # dev.py reinstalls when pyproject.toml is newer than its stamp: not into the tests' venv
    os.utime(target / "pyproject.toml", (0, 0))
    return target


def expected_exit(line: str) -> int:
    """validate of the broken example: 1; simulate of the demo: 3, for the two DCB purchases
    stamped with the winter offset that fall on 1 April in Warsaw (see test_scenarios.py), in
    the runs that read them; 0 when they are routed to April, for April's run over them, and
    for every other command."""
    routed = "--out-of-period route" in line or "routed-2026-04" in line
    if "mixed-currency" in line:
        return 1
    rejects = line.startswith("clearline simulate") and "dcb-purchases" in line and not routed
    return 3 if rejects else 0


def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    """Every `$ ` line of every console block, in order, in one bash session in a copy of
    the repository, as a user pastes them: the Quickstart's demo, `.venv/bin/clearline`,
    `source .venv/bin/activate`, then `clearline ...` and `python3 benchmarks/...`. Only
    `python3 dev.py test` is left out: it is the suite running this test."""
    venv = Path(sys.prefix)
    if not (venv / ".clearline-installed").exists() or not (venv / "bin" / "clearline").exists():
        pytest.skip("the tests do not run in a venv made by dev.py (it would reinstall into it)")
    repo = copy_of_the_repository(tmp_path / "clearline")
    lines = [line for block in blocks(README, "console") for line in block.splitlines()]
    lines = [line[2:] for line in lines if line.startswith("$ ") and line != "$ python3 dev.py test"]
    script = ["set +e", f"cd {shlex.quote(str(repo))}"]
    for line in lines:
        script += [f"printf '::command %s\\n' {shlex.quote(line)}", f"{line} 2>&1", 'echo "::exit $?"']
    # PATH without the tests' venv: `clearline` is found only after `source .venv/bin/activate`
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv / "bin")
    if shutil.which("python3", path=path) is None:  # the venv's is the only python3: keep it
        path = os.environ["PATH"]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "CLEARLINE_VENV"}}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], env={**env, "PATH": path}, capture_output=True, text=True
    )
    parts = done.stdout.split("::command ")[1:]
    assert len(parts) == len(lines), done.stdout + done.stderr
    outputs: dict[str, str] = {}
    for line, part in zip(lines, parts, strict=True):
        shown, _, rest = part.partition("\n")
        output, _, code = rest.rpartition("::exit ")
        assert shown == line
        assert int(code) == expected_exit(line), (line, output)
        assert "Traceback" not in output, (line, output)
        outputs[line] = output
    demo = outputs["python3 dev.py demo"]
    assert "\n    .venv/bin/clearline report out/2026-03\n" in demo  # the next command, run just after
    assert lines[lines.index("python3 dev.py demo") + 1] == ".venv/bin/clearline report out/2026-03"
    assert outputs["clearline --version"] == "clearline 0.1.0\n"
    party = next(b for b in blocks(README, "text") if b.startswith("streamco (StreamCo Ltd)"))
    assert outputs["clearline explain out/2026-03 --party streamco"] == party
    assert "python -c pass" in outputs["python3 benchmarks/startup.py"]
    quick = outputs["python3 benchmarks/run.py --quick"]
    assert "clearline simulate contracts/nordcarrier.contract, end to end" in quick


def test_readme_diagnostic_is_what_validate_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    shown = next(b for b in blocks(README, "text") if "error[E0301]" in b)
    result = CliRunner().invoke(app, ["validate", "docs/examples/mixed-currency.contract"])
    assert result.exit_code == 1
    assert result.output == shown


@pytest.mark.parametrize(
    "text",
    [
        b
        for b in blocks(README, "clearline") + blocks(LANGUAGE, "clearline")
        if b.lstrip("# \n").startswith("contract") or "\ncontract " in b
    ],
)
def test_documented_contracts_validate(text: str) -> None:
    contract = clearline.parse(SourceFile("doc.contract", text))
    errors = [d for d in clearline.check(contract) if d.is_error]
    assert errors == []
