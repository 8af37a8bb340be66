"""The manifest of a run folder, the plans it records and the inputs it packs.

Input: a finished `Settlement`, the run's input files, the names of the
outputs written. Output: `manifest.json`'s content (schema
`MANIFEST_SCHEMA`, described by `clearline/schemas/manifest.schema.json`).

Every input is named as given (`path`), by absolute path (`absolute`) and by
SHA-256; with `--pack` it is copied to `inputs/sha256/HEX.SUFFIX` (`packed`), so the
folder can be verified anywhere. Every contract version the run used is
recorded as its compiled plan (`plan-HEX.json`, canonical JSON whose
SHA-256 is its name): documents and `verify` read the plans from there.
"""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from clearline.compiler import ir
from clearline.runtime.inputs.locations import Input, absolute, open_bytes, suffix_of
from clearline.runtime.settlement.settle import Settlement
from clearline.runtime.store.folder import create_exclusive, temporary_name

__all__ = ["MANIFEST_SCHEMA", "build_manifest", "input_entries", "plan_text", "sha256_file"]

MANIFEST_SCHEMA = 1


def sha256_file(path: Input) -> str:
    """The SHA-256 of a file, or of what a URL names (runtime.inputs.locations)."""
    digest = hashlib.sha256()
    with open_bytes(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plan_text(plan: ir.ContractPlan) -> bytes:
    """A plan as canonical JSON (sorted keys, no spaces): the same plan, the same bytes."""
    return json.dumps(ir.to_json(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def input_entries(
    inputs: list[tuple[str, Input]], pack_into: Path | None, hashes: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The manifest's `inputs`; with `pack_into` (the run folder) each file is copied
    there first, and its entry names the copy. `hashes`: SHA-256 already computed
    elsewhere (by a cluster's workers, for files the client may not see), by path.
    A URL is recorded as given, as `path` and as `absolute` (`verify` opens it again)."""
    known = hashes or {}
    entries = []
    for role, path in inputs:
        entry = {"role": role, "path": str(path), "absolute": absolute(path)}
        if pack_into is None:
            entry["sha256"] = known.get(str(path)) or sha256_file(path)
        else:
            entry["sha256"], entry["packed"] = _pack(path, pack_into)
        entries.append(entry)
    return entries


def _pack(path: Input, out: Path) -> tuple[str, str]:
    """Copy `path` into `out/inputs/sha256/`, named by the SHA-256 of what was copied."""
    folder = out / "inputs" / "sha256"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(folder / "input")
    digest = hashlib.sha256()
    try:
        with open_bytes(path) as source, create_exclusive(tmp) as target:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                target.write(chunk)
        given = suffix_of(path)
        suffix = given if given[1:].isalnum() and len(given) <= 9 else ""
        name = f"inputs/sha256/{digest.hexdigest()}{suffix}"  # the suffix says how to read it
        os.replace(tmp, out / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), name


def build_manifest(
    result: Settlement,
    inputs: list[dict[str, str]],
    plans: list[tuple[ir.ContractPlan, str]],
    plan_sha256: str,
    out: Path,
    outputs: list[str],
) -> dict[str, Any]:
    """The manifest: what went in, every figure the run claims, what came out."""
    rejected = len(result.rejects)
    unmatched = len(result.unmatched)
    return {
        "schema": MANIFEST_SCHEMA,
        "period": result.period,
        "status": "clean" if not rejected and not unmatched else "completed with rejects",
        "inputs": inputs,
        "contracts": [
            {"id": p.id, "version": p.version, "file": p.file, "sha256": p.sha256, "plan": name}
            for p, name in plans
        ],
        "plan_sha256": plan_sha256,
        "counts": {
            "read": result.read,
            "rated": result.rated,
            "rejected": rejected,
            "unmatched": unmatched,
            "routed": len(result.routed),
            "reconciled": result.read == result.rated + rejected + unmatched + len(result.routed),
            "lines": {
                k: sum(1 for ln in result.lines if ln.kind == k)
                for k in ("invoice", "payout", "withholding", "retained")
            },
        },
        "totals": totals(result),
        "conservation": {"ok": result.ok, "checks": result.conservation},
        "outputs": {name: sha256_file(out / name) for name in sorted(outputs)},
    }


def totals(result: Settlement) -> dict[str, dict[str, dict[str, str]]]:
    """Per party, line kind and currency, the sum of the lines' amounts (and of
    what was paid, under `paid`, per paid currency)."""
    found: dict[str, dict[str, dict[str, Decimal]]] = {}
    for ln in result.lines:
        by_kind = found.setdefault(ln.party, {}).setdefault(ln.kind, {})
        by_kind[ln.currency] = by_kind.get(ln.currency, Decimal(0)) + ln.amount
        if ln.paid_amount is not None:
            paid = found[ln.party].setdefault("paid", {})
            paid[ln.paid_currency] = paid.get(ln.paid_currency, Decimal(0)) + ln.paid_amount
    return {
        party: {
            kind: {cur: format(v, "f") for cur, v in sorted(by_cur.items())}
            for kind, by_cur in sorted(kinds.items())
        }
        for party, kinds in sorted(found.items())
    }
