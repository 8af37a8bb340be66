"""What the fuzzing harnesses share: arguments, seeds, a byte mutator, the
findings folder and the execution counter.

A harness is a function `one_input(data: bytes) -> None` that raises
`Finding` (or any unexpected exception) when Clearline misbehaves on `data`.
`fuzz()` drives it with atheris (coverage-guided libFuzzer mutation, the
default when atheris is installed) or with the plain random mutator below,
for a bounded time, and records every distinct finding in fuzz/findings/:

    fuzz/findings/<harness>-<sha>.<ext>   the input that misbehaved
    fuzz/findings/<harness>-<sha>.txt     what happened (traceback), how to replay it
    fuzz/findings/<harness>-stats.json    executions, time, executions/s, findings

Clearline is imported by the harness only after `fuzz()` has set up the
instrumentation (atheris must see the modules it instruments imported).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
FINDINGS = FUZZ / "findings"
CORPUS = FUZZ / "corpus"  # the working corpus libFuzzer grows (not committed)
STATS_EVERY = 5.0  # seconds between writes of the stats file


class Finding(Exception):
    """An invariant broken without an exception (a lost record, money not conserved)."""


@dataclass(slots=True)
class Options:
    seconds: float
    engine: str
    seed: int
    replay: list[Path]
    findings: Path
    max_len: int
    extra: list[str] = field(default_factory=list)


def parse_args(name: str, description: str, max_len: int) -> Options:
    parser = argparse.ArgumentParser(prog=f"fuzz/{name}.py", description=description)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    parser.add_argument(
        "--engine",
        choices=("atheris", "random"),
        default="atheris" if _has_atheris() else "random",
        help="atheris: coverage-guided (default when installed); random: byte mutations of the seeds",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random engine")
    parser.add_argument(
        "--replay",
        type=Path,
        nargs="+",
        default=[],
        help="run these inputs (files or folders) once each instead of fuzzing; exit 1 on a finding",
    )
    parser.add_argument("--findings", type=Path, default=FINDINGS, help="where findings are written")
    parser.add_argument("--max-len", type=int, default=max_len, help="longest input (bytes)")
    args, extra = parser.parse_known_args()
    return Options(args.seconds, args.engine, args.seed, args.replay, args.findings, args.max_len, extra)


def _has_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def instrumented_imports(options: Options) -> AbstractContextManager[Any]:
    """A context manager under which the harness imports Clearline (and Lark)."""
    if options.engine == "atheris" and not options.replay:
        import atheris

        manager: AbstractContextManager[Any] = atheris.instrument_imports(include=["clearline", "lark"])
        return manager
    return nullcontext()


# --- mutation (the random engine) ---------------------------------------------------------


def mutate(data: bytes, rng: random.Random, max_len: int) -> bytes:
    """One to four byte-level edits: insert, delete, flip, duplicate a slice, truncate."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0:  # insert bytes: random ones or a piece of ASCII punctuation
            piece = rng.choice(
                [
                    bytes([rng.randrange(256)]),
                    rng.choice([b'"', b",", b"\n", b"\\", b"{", b"}", b"\r", b"\x00"]),
                ]
            )
            out[at:at] = piece * rng.randint(1, 3)
        elif op == 1 and out:  # delete a slice
            del out[at : at + rng.randint(1, 16)]
        elif op == 2 and out:  # flip bits of one byte
            i = min(at, len(out) - 1)
            out[i] ^= 1 << rng.randrange(8)
        elif op == 3 and out:  # duplicate a slice somewhere else
            start = rng.randrange(len(out))
            piece = bytes(out[start : start + rng.randint(1, 64)])
            out[at:at] = piece
        elif op == 4:  # truncate
            del out[at:]
        else:  # replace a byte by an interesting one
            if out:
                i = min(at, len(out) - 1)
                out[i] = rng.choice(b'"0 9-.:,\n+eE%\xff\xc3')
    return bytes(out[:max_len])


# --- findings and statistics ----------------------------------------------------------------


@dataclass(slots=True)
class Recorder:
    harness: str
    ext: str
    folder: Path
    engine: str
    executions: int = 0
    findings: dict[str, str] = field(default_factory=dict)  # signature -> file
    repeats: dict[str, int] = field(default_factory=dict)
    start: float = field(default_factory=time.monotonic)
    last_write: float = 0.0

    def signature(self, error: BaseException) -> str:
        """Same kind of failure at the same place: one finding."""
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if "clearline" in f.filename and "/fuzz/" not in f.filename]
        where = ours[-1] if ours else (frames[-1] if frames else None)
        place = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
        first = str(error).splitlines()[0] if str(error) else ""
        if isinstance(error, Finding):
            return f"Finding: {first[:80]}"
        return f"{type(error).__name__} at {place}"

    def record(self, data: bytes, error: BaseException) -> None:
        key = self.signature(error)
        self.repeats[key] = self.repeats.get(key, 0) + 1
        if key in self.findings:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()[:12]
        stem = f"{self.harness}-{digest}"
        (self.folder / f"{stem}{self.ext}").write_bytes(data)
        details = "".join(traceback.format_exception(error))
        (self.folder / f"{stem}.txt").write_text(
            f"{key}\n\nreplay: .venv/bin/python fuzz/{self.harness}.py --replay "
            f"fuzz/findings/{stem}{self.ext}\n\n{details}",
            encoding="utf-8",
        )
        self.findings[key] = f"{stem}{self.ext}"
        print(f"\n*** finding: {key} -> {self.folder / stem}{self.ext}", file=sys.stderr, flush=True)
        self.write_stats(force=True)

    def tick(self) -> None:
        self.executions += 1
        if time.monotonic() - self.last_write > STATS_EVERY:
            self.write_stats()

    def write_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        self.last_write = now
        elapsed = now - self.start
        stats = {
            "harness": self.harness,
            "engine": self.engine,
            "executions": self.executions,
            "seconds": round(elapsed, 1),
            "executions_per_second": round(self.executions / elapsed, 1) if elapsed else 0,
            "findings": [
                {"signature": k, "input": v, "hits": self.repeats[k]}
                for k, v in sorted(self.findings.items())
            ],
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{self.harness}-stats.json.partial"
        tmp.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.folder / f"{self.harness}-stats.json")


# --- the drivers ------------------------------------------------------------------------------


def _replay_files(paths: Sequence[Path]) -> list[Path]:
    """The inputs given, and those in the folders given (not the findings' notes and stats)."""
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        files += sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix not in {".txt", ".json", ".md"}
        )
    return files


def fuzz(
    harness: str,
    ext: str,
    options: Options,
    one_input: Callable[[bytes], None],
    seeds: dict[str, bytes],
    dictionary: Sequence[bytes] = (),
) -> int:
    """Run `one_input` under the chosen engine for `options.seconds`; return an exit code."""
    recorder = Recorder(harness, ext, options.findings, "replay" if options.replay else options.engine)

    def guarded(data: bytes) -> None:
        recorder.tick()
        try:
            one_input(data)
        except Exception as error:  # anything one_input lets through is a finding
            recorder.record(data, error)

    if options.replay:
        for path in _replay_files(options.replay):
            data = path.read_bytes()
            before = len(recorder.findings)
            guarded(data)
            if len(recorder.findings) > before:
                print(f"{path}: FINDING", file=sys.stderr)
        recorder.write_stats(force=True)
        print(f"replayed {recorder.executions} input(s), {len(recorder.findings)} finding(s)")
        return 1 if recorder.findings else 0

    if options.engine == "atheris":
        import atheris

        corpus = CORPUS / harness
        corpus.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (corpus / f"seed-{name}").write_bytes(data)
        argv = [
            sys.argv[0],
            f"-max_total_time={int(options.seconds)}",
            f"-max_len={options.max_len}",
            "-print_final_stats=1",
            "-timeout=60",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={options.findings}/{harness}-libfuzzer-",
        ]
        if dictionary:
            dict_file = CORPUS / f"{harness}.dict"
            dict_file.write_text(
                "".join(f'"{_dict_escape(word)}"\n' for word in sorted(set(dictionary))), encoding="ascii"
            )
            argv.append(f"-dict={dict_file}")
        argv += [*options.extra, str(corpus)]
        options.findings.mkdir(parents=True, exist_ok=True)
        atheris.Setup(argv, guarded)
        try:
            atheris.Fuzz()
        finally:  # libFuzzer exits the process itself; the stats file is written as it goes
            recorder.write_stats(force=True)
        return 0

    rng = random.Random(options.seed)
    pool = list(seeds.values())
    deadline = time.monotonic() + options.seconds
    for data in pool:
        guarded(data)
    while time.monotonic() < deadline:
        guarded(mutate(rng.choice(pool), rng, options.max_len))
    recorder.write_stats(force=True)
    elapsed = time.monotonic() - recorder.start
    print(
        f"{harness}: {recorder.executions} executions in {elapsed:.0f} s "
        f"({recorder.executions / elapsed:.1f}/s), {len(recorder.findings)} finding(s)"
    )
    return 0


def _dict_escape(word: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in word)
