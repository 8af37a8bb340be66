"""Verifying a run: the inputs a manifest names are re-hashed and the run is
settled again into a scratch folder; every output must come out identical.

Input: a run folder written by `clearline simulate`. Output: a `Verification`
listing what differs (an input changed since the run, an output that does
not reproduce), empty when the run is reproduced byte for byte.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clearline
from clearline import codes
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.runtime.settlement.prior import PRIOR_FILE, Prior
from clearline.runtime.store.run_folder import sha256_file

__all__ = ["Verification", "verify_run"]


@dataclass(slots=True)
class Verification:
    run: Path
    inputs_checked: int = 0
    outputs_checked: int = 0
    changed_inputs: list[str] = field(default_factory=list)
    differing_outputs: list[str] = field(default_factory=list)
    # the run settled again (with its partial sums, which the ledger keeps), when it was
    settlement: clearline.Settlement | None = None

    @property
    def ok(self) -> bool:
        return not self.changed_inputs and not self.differing_outputs


def _fail(message: str, hint: str | None = None) -> ClearlineError:
    return ClearlineError([Diagnostic(codes.UNREADABLE_INPUT, message, None, hint)])


def _manifest(run: Path) -> dict[str, Any]:
    path = run / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(
            f"{run} is not a complete run folder (no manifest.json)",
            "verify the folder that `clearline simulate --out` wrote",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or "inputs" not in data or "outputs" not in data:
        raise _fail(f"{path} is not a Clearline manifest")
    options = data.get("options", {})  # runs written before options were recorded: the defaults
    if not isinstance(options, dict) or options.get("out_of_period", "reject") not in clearline.OUT_OF_PERIOD:
        raise _fail(f"{path} names options this version of Clearline does not know: {options}")
    return data


def _prior(run: Path, manifest: dict[str, Any]) -> Prior | None:
    """What the ledger told the run (`simulate --ledger`), as the run folder keeps it."""
    ledger = manifest.get("ledger")
    if not ledger:
        return None
    path = run / str(ledger.get("prior", PRIOR_FILE))
    try:
        return Prior.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise _fail(f"cannot read {path}: {err}", "settle the run again with --ledger") from None


def verify_run(run: str | Path, workers: int = 1) -> Verification:
    """Re-hash the inputs and re-settle the run (in `workers` processes);
    compare every output's SHA-256."""
    folder = Path(run)
    manifest = _manifest(folder)
    result = Verification(folder)
    roles: dict[str, list[Path]] = {}
    for item in manifest["inputs"]:
        path = Path(item["path"])
        roles.setdefault(item["role"], []).append(path)
        result.inputs_checked += 1
        try:
            digest = sha256_file(path)
        except OSError:
            result.changed_inputs.append(f"{path}: missing")
            continue
        if digest != item["sha256"]:
            result.changed_inputs.append(
                f"{path}: SHA-256 {digest[:16]}..., the run read {item['sha256'][:16]}..."
            )
    if result.changed_inputs:
        return result
    contracts = roles.get("contract", [])
    fx = roles.get("fx", [])
    customers = roles.get("customers", [])
    plans, _ = clearline.load_plans(contracts)
    prior = _prior(folder, manifest)
    with tempfile.TemporaryDirectory(prefix="clearline-verify-") as tmp:
        again = Path(tmp) / "run"
        result.settlement = clearline.run(
            plans,
            roles.get("usage", []),
            manifest["period"],
            fx=fx[0] if fx else None,
            customers=customers[0] if customers else None,
            out=again,
            workers=workers,
            out_of_period=manifest.get("options", {}).get("out_of_period", "reject"),
            prior=prior,
        )
        for name, digest in sorted(manifest["outputs"].items()):
            result.outputs_checked += 1
            if not (again / name).exists() or sha256_file(again / name) != digest:
                result.differing_outputs.append(name)
            elif not (folder / name).exists() or sha256_file(folder / name) != digest:
                result.differing_outputs.append(f"{name} (the file in the run folder was changed)")
    return result
