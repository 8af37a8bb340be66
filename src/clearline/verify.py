"""Verifying a run: the inputs a manifest names are re-hashed, the run is
settled again into a scratch folder from the plans it recorded, and every
output and every claim of the manifest must come out identical.

Input: a run folder written by `clearline simulate` (from any working
directory; a packed run anywhere). Output: a `Verification` listing what
differs -- an input changed since the run, an output that does not
reproduce, a claim of `manifest.json` (counts, totals, conservation, plan
hashes, the list of outputs) that the run does not bear out, a document in
`documents/` not rendered from this manifest -- empty when all holds.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clearline
from clearline import codes
from clearline.compiler import ir
from clearline.diagnostics import ClearlineError, Diagnostic
from clearline.runtime.inputs.locations import is_url
from clearline.runtime.inputs.readers import InputError
from clearline.runtime.settlement.prior import Prior, read_prior
from clearline.runtime.store.manifest import sha256_file
from clearline.source import SourceFile

__all__ = ["CLAIMS", "Verification", "verify_run"]

# the manifest's claims verify recomputes; `inputs` and `options` are what it re-runs with
CLAIMS = ("period", "status", "contracts", "plan_sha256", "counts", "totals", "conservation", "outputs")


@dataclass(slots=True)
class Verification:
    run: Path
    inputs_checked: int = 0
    outputs_checked: int = 0
    claims_checked: int = 0
    documents_checked: int = 0
    changed_inputs: list[str] = field(default_factory=list)
    differing_outputs: list[str] = field(default_factory=list)
    wrong_claims: list[str] = field(default_factory=list)
    bad_documents: list[str] = field(default_factory=list)
    # the run settled again (with its partial sums, which the ledger keeps), when it was
    settlement: clearline.Settlement | None = None

    @property
    def ok(self) -> bool:
        return not (self.changed_inputs or self.differing_outputs or self.wrong_claims or self.bad_documents)


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
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("inputs"), list)
        or not isinstance(data.get("outputs"), dict)
        or not all(isinstance(i, dict) and {"role", "path", "sha256"} <= set(i) for i in data["inputs"])
    ):
        raise _fail(f"{path} is not a Clearline manifest")
    options = data.get("options", {})  # runs written before options were recorded: the defaults
    if not isinstance(options, dict) or options.get("out_of_period", "reject") not in clearline.OUT_OF_PERIOD:
        raise _fail(f"{path} names options this version of Clearline does not know: {options}")
    return data


def _locate(run: Path, item: dict[str, Any]) -> list[Path | str]:
    """Where an input may be: packed in the run folder, at its absolute path, as given;
    a URL where it names (runtime.inputs.locations: opened through fsspec again)."""
    found: list[Path | str] = []
    if is_url(item["path"]) and "packed" not in item:
        return [str(item["path"])]
    if "packed" in item:  # the pack is the evidence: a damaged copy is not made good elsewhere
        packed = Path(str(item["packed"]))
        return [] if packed.is_absolute() or ".." in packed.parts else [run / packed]
    if isinstance(item.get("absolute"), str):
        found.append(Path(item["absolute"]))
    found.append(Path(str(item["path"])))
    return found


def _check_input(run: Path, item: dict[str, Any], result: Verification) -> Path | str | None:
    shown = item["path"]
    wrong = None
    for path in _locate(run, item):
        try:
            digest = sha256_file(path)
        except (OSError, InputError):
            continue
        if digest == item["sha256"]:
            return path
        wrong = wrong or f"{shown}: SHA-256 {digest[:16]}..., the run read {str(item['sha256'])[:16]}..."
    result.changed_inputs.append(wrong or f"{shown}: missing")
    return None


def _recorded_plans(run: Path, manifest: dict[str, Any]) -> list[ir.ContractPlan] | None:
    """The plans the run recorded (plan-HEX.json), or None for a run written
    before they were (its contracts are compiled again)."""
    contracts = manifest.get("contracts")
    if not isinstance(contracts, list) or not all(isinstance(c, dict) and "plan" in c for c in contracts):
        return None
    plans = []
    for c in contracts:
        name = Path(str(c["plan"]))
        if name.is_absolute() or ".." in name.parts:
            raise _fail(f"{run / 'manifest.json'} names a plan outside the run folder: {name}")
        try:
            plans.append(ir.from_json(json.loads((run / name).read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            raise _fail(f"cannot load the plan {run / name}: {err}", "settle the run again") from None
    return plans


def _compile(manifest: dict[str, Any], roles: dict[str, list[Path | str]]) -> list[ir.ContractPlan] | None:
    """The run's contracts compiled again (each under the name the run gave it, its text
    from wherever it was found: packed or at its path); None when they cannot be (a
    run settled from JSON plans names no contract files)."""
    names = [str(i["path"]) for i in manifest["inputs"] if i["role"] == "contract"]
    paths = [Path(p) for p in roles.get("contract", [])]  # contracts are local files
    if not names or len(names) != len(paths):
        return None
    try:
        sources = {name: clearline.read_source(path) for name, path in zip(names, paths, strict=True)}
        sources = {name: SourceFile(name, s.text) for name, s in sources.items()}
        given = [n for n in names if not n.endswith(".json")]
        plans, _ = clearline.load_plans(given, sources=sources)
    except ClearlineError:
        return None
    return plans


def _prior(run: Path, manifest: dict[str, Any]) -> Prior | None:
    """What the ledger told the run, or a diagnostic when its file is damaged."""
    try:
        return read_prior(run, manifest)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise _fail(
            f"cannot read the ledger's prior of {run}: {err}", "settle the run again with --ledger"
        ) from None


def verify_run(run: str | Path, workers: int = 1) -> Verification:
    """Re-hash the inputs and re-settle the run (in `workers` processes);
    compare every output's SHA-256 and every claim of the manifest."""
    folder = Path(run)
    manifest = _manifest(folder)
    result = Verification(folder)
    roles: dict[str, list[Path | str]] = {}
    names: dict[str, str] = {}  # where an input was found -> the name the run gave it
    for item in manifest["inputs"]:
        result.inputs_checked += 1
        path = _check_input(folder, item, result)
        if path is not None:
            roles.setdefault(str(item["role"]), []).append(path)
            names[str(path)] = str(item["path"])
    if result.changed_inputs:
        return result
    plans = _recorded_plans(folder, manifest)
    compiled = _compile(manifest, roles)
    if plans is None:
        if compiled is None:
            raise _fail(f"the contracts of {folder} cannot be compiled again", "settle the run again")
        plans = compiled
    elif compiled is not None and clearline.plans_hash(compiled) != clearline.plans_hash(plans):
        result.wrong_claims.append(
            "contracts: the plans recorded are not what the run's contracts compile to"
        )
    fx = roles.get("fx", [])
    customers = roles.get("customers", [])
    prior = _prior(folder, manifest)
    with tempfile.TemporaryDirectory(prefix="clearline-verify-") as tmp:
        again = Path(tmp) / "run"
        result.settlement = clearline.run(
            plans,
            roles.get("usage", []),
            str(manifest.get("period")),
            fx=fx[0] if fx else None,
            customers=customers[0] if customers else None,
            out=again,
            workers=workers,
            out_of_period=manifest.get("options", {}).get("out_of_period", "reject"),
            names=names,
            prior=prior,
        )
        for name, digest in sorted(manifest["outputs"].items()):
            result.outputs_checked += 1
            if not (again / name).is_file() or sha256_file(again / name) != digest:
                result.differing_outputs.append(name)
            elif not (folder / name).is_file() or sha256_file(folder / name) != digest:
                result.differing_outputs.append(f"{name} (the file in the run folder was changed)")
        recomputed = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    for claim in CLAIMS:
        result.claims_checked += 1
        if manifest.get(claim) != recomputed.get(claim):
            result.wrong_claims.append(f"{claim} {_difference(manifest.get(claim), recomputed.get(claim))}")
    _check_documents(folder, result)
    return result


def _difference(claimed: Any, found: Any, where: str = "") -> str:
    """The first place two claims differ, as `at KEY: X, the run gives Y`."""
    if isinstance(claimed, dict) and isinstance(found, dict):
        for key in sorted(set(claimed) | set(found), key=str):
            if claimed.get(key) != found.get(key):
                return _difference(claimed.get(key), found.get(key), f"{where}.{key}" if where else str(key))
    if isinstance(claimed, list) and isinstance(found, list) and len(claimed) == len(found):
        for i, (a, b) in enumerate(zip(claimed, found, strict=True)):
            if a != b:
                return _difference(a, b, f"{where}[{i}]")
    at = f" at {where}" if where else ""
    return f"{_short(claimed)}{at}, the run gives {_short(found)}"


def _short(value: Any) -> str:
    text = "(nothing)" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_documents(folder: Path, result: Verification) -> None:
    """documents/ must hold only documents rendered from this manifest, unchanged."""
    documents = folder / "documents"
    if not documents.is_dir():
        return
    manifest_sha = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    try:
        index = json.loads((documents / "documents.json").read_text(encoding="utf-8"))
        listed = dict(index["documents"])
        rendered_from = index["manifest_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        index, listed, rendered_from = None, {}, None
    files = sorted(p.name for p in documents.iterdir() if p.name != "documents.json")
    if index is None and files:
        result.bad_documents.append(
            "documents/ has no documents.json: its documents cannot be tied to this run"
        )
        return
    if rendered_from != manifest_sha:
        result.bad_documents.append(
            f"documents/ was rendered from another manifest (SHA-256 {str(rendered_from)[:16]}..., "
            f"this run's is {manifest_sha[:16]}...)"
        )
        return
    for name in files:
        result.documents_checked += 1
        path = documents / name
        if name not in listed:
            result.bad_documents.append(f"documents/{name} is not listed in documents/documents.json")
        elif not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != listed[name]:
            result.bad_documents.append(f"documents/{name} was changed since it was rendered")
    for name in sorted(set(listed) - set(files)):
        result.bad_documents.append(f"documents/{name} is listed but missing")
