"""Synthetic usage for the benchmarks: N voice CDRs for NordCarrier, N
subscription events for StreamPlus, N IoT data records for FleetIoT, N
carrier-billing purchases for GameStudio, and the customers they name.

Deterministic: the same N and seed give byte-identical files. Written to
benchmarks/data/ (gitignored).

    python benchmarks/generate.py --cdrs 1000000 --events 100000

CDRs: destinations spread over the 4860 / 48 / 49 prefixes of the
termination table, about 8% unanswered (zero-second) calls, timestamps inside
March 2026 local time with the Europe/Warsaw offset of that instant (+01:00
before 2026-03-29 01:00 UTC, +02:00 after), a few thousand customers.
Subscription events: spread evenly over the same customers, each one's
events alternately activations and deactivations in time order, from
November 2025 to the end of March 2026.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

DATA = Path(__file__).resolve().parent / "data"
WARSAW = ZoneInfo("Europe/Warsaw")
UTC = dt.UTC
MARCH_START = dt.datetime(2026, 3, 1, tzinfo=WARSAW).astimezone(UTC)
MARCH_END = dt.datetime(2026, 4, 1, tzinfo=WARSAW).astimezone(UTC)
DST_START = dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET -> 03:00 CEST
CUSTOMERS = 4000


def customer_id(n: int) -> str:
    return f"C-{n:05d}"


def local_text(instant: dt.datetime) -> str:
    """ISO 8601 local Warsaw time with its offset, without zoneinfo per row."""
    offset = dt.timedelta(hours=2) if instant >= DST_START else dt.timedelta(hours=1)
    local = (instant + offset).replace(tzinfo=None)
    return f"{local.isoformat()}+0{offset.seconds // 3600}:00"


def cdrs(path: Path, n: int, seed: int, customers: int = CUSTOMERS, shuffled: bool = False) -> None:
    """Sequential record ids (CDR-00000001, ...), or with `shuffled` the same ids
    in a scrambled order (i -> a*i mod n, a bijection), which the duplicate
    check cannot take for distinct at a glance."""
    rng = random.Random(seed)
    step = _coprime(n, seed) if shuffled else 1
    span = int((MARCH_END - MARCH_START).total_seconds())
    start = MARCH_START
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("record_id,timestamp,customer_id,service,destination,quantity,unit\n")
        lines: list[str] = []
        for i in range(1, n + 1):
            instant = start + dt.timedelta(seconds=rng.randrange(span))
            roll = rng.random()
            if roll < 0.35:
                destination = f"4860{rng.randrange(10**6):06d}"
            elif roll < 0.75:
                destination = f"48{rng.randrange(21, 99)}{rng.randrange(10**7):07d}"
            else:
                destination = f"49{rng.randrange(10 ** (5 + i % 4)):0{5 + i % 4}d}"
            seconds = 0 if rng.random() < 0.08 else int(rng.expovariate(1 / 150)) + 1
            number = (i * step) % n + 1 if shuffled else i
            customer = customer_id(rng.randrange(customers) + 1)
            lines.append(
                f"CDR-{number:08d},{local_text(instant)},{customer},voice-out,{destination},{seconds},s\n"
            )
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def _coprime(n: int, seed: int) -> int:
    """A multiplier that scrambles 0..n-1 (coprime with n, about 0.6 n)."""
    a = max(2, int(n * 0.618) + seed % 7)
    while math.gcd(a, n) != 1:
        a += 1
    return a


def events(path: Path, n: int, seed: int, customers: int = CUSTOMERS) -> None:
    rng = random.Random(seed + 1)
    first = dt.datetime(2025, 11, 1, tzinfo=WARSAW).astimezone(UTC)
    span = int((MARCH_END - first).total_seconds())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("record_id,timestamp,customer_id,product,event\n")
        lines: list[str] = []
        written = 0
        for k in range(1, min(n, customers) + 1):
            count = n // customers + (1 if k <= n % customers else 0)
            instants = sorted(first + dt.timedelta(seconds=rng.randrange(span)) for _ in range(count))
            for j, instant in enumerate(instants):
                written += 1
                event = "activate" if j % 2 == 0 else "deactivate"
                lines.append(
                    f"SP-{written:08d},{local_text(instant)},{customer_id(k)},streamplus-premium,{event}\n"
                )
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


IOT_FLEETS = 400
PRICES = ("4.99", "9.99", "12.30", "24.60", "49.99", "61.50", "99.00")


def iot(path: Path, n: int, seed: int) -> None:
    """FleetIoT's shape: graduated data tiers, a SIM fee on the maximum of active_sims."""
    rng = random.Random(seed + 2)
    span = int((MARCH_END - MARCH_START).total_seconds())
    sims = [rng.randrange(50, 5000) for _ in range(IOT_FLEETS)]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("record_id,timestamp,customer_id,service,quantity,unit,active_sims\n")
        lines: list[str] = []
        for i in range(1, n + 1):
            instant = MARCH_START + dt.timedelta(seconds=rng.randrange(span))
            fleet = rng.randrange(IOT_FLEETS)
            service = "data" if rng.random() < 0.97 else "sms"
            tenths = rng.randrange(1, 500_000)
            lines.append(
                f"IOT-{i:08d},{local_text(instant)},{customer_id(fleet + 1)},{service},"
                f"{tenths // 10}.{tenths % 10},MB,{sims[fleet] + rng.randrange(-20, 20)}\n"
            )
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def purchases(path: Path, n: int, seed: int, customers: int = CUSTOMERS) -> None:
    """GameStudio's shape: a per-record VAT-included amount, then a waterfall on the net."""
    rng = random.Random(seed + 3)
    span = int((MARCH_END - MARCH_START).total_seconds())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("record_id,timestamp,customer_id,service,merchant,amount,currency\n")
        lines: list[str] = []
        for i in range(1, n + 1):
            instant = MARCH_START + dt.timedelta(seconds=rng.randrange(span))
            merchant = "gamestudio" if rng.random() < 0.9 else "otherapps"
            lines.append(
                f"DCB-{i:08d},{local_text(instant)},{customer_id(rng.randrange(customers) + 1)},"
                f"carrier-billing,{merchant},{rng.choice(PRICES)},PLN\n"
            )
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines = []
        out.write("".join(lines))


def customers_file(path: Path, customers: int = CUSTOMERS) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        # a VAT id each: FleetIoT's B2B invoices are reverse-charged, which needs the customer's
        out.write("customer_id,name,country,language,currency,vat_id\n")
        for n in range(1, customers + 1):
            out.write(f"{customer_id(n)},Customer {n},PL,{'pl' if n % 3 else 'en'},PLN,PL{5260000000 + n}\n")


def cdr_path(n: int, seed: int = 2026, shuffled: bool = False) -> Path:
    return DATA / f"nordcarrier-{n}-seed{seed}{'-shuffled' if shuffled else ''}.csv"


def events_path(n: int, seed: int = 2026) -> Path:
    return DATA / f"streamplus-{n}-seed{seed}.csv"


def customers_path() -> Path:
    return DATA / "customers.csv"


SHAPES = ("nordcarrier", "fleetiot", "streamplus", "gamestudio")


def shape_path(shape: str, n: int, seed: int = 2026) -> Path:
    """The usage file of a contract shape (SHAPES) with n records."""
    if shape == "nordcarrier":
        return cdr_path(n, seed)
    if shape == "streamplus":
        return events_path(n, seed)
    return DATA / f"{shape}-{n}-seed{seed}.csv"


def ensure_shape(shape: str, n: int, seed: int = 2026) -> Path:
    """The usage file of a shape, written unless it exists already."""
    if shape == "nordcarrier":
        ensure(cdr_count=n, seed=seed)
    elif shape == "streamplus":
        ensure(event_count=n, seed=seed)
    else:
        ensure(seed=seed)
        path = shape_path(shape, n, seed)
        if not path.exists():
            tmp = path.with_suffix(".partial")
            (iot if shape == "fleetiot" else purchases)(tmp, n, seed)
            tmp.replace(path)
    return shape_path(shape, n, seed)


def ensure(cdr_count: int = 0, event_count: int = 0, seed: int = 2026, shuffled: bool = False) -> None:
    """Write the files for these sizes unless they exist already."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = customers_path()
    if not path.exists() or "vat_id" not in path.open(encoding="utf-8").readline():  # an older one
        customers_file(path)
    if cdr_count and not cdr_path(cdr_count, seed, shuffled).exists():
        tmp = cdr_path(cdr_count, seed, shuffled).with_suffix(".partial")
        cdrs(tmp, cdr_count, seed, shuffled=shuffled)
        tmp.replace(cdr_path(cdr_count, seed, shuffled))
    if event_count and not events_path(event_count, seed).exists():
        tmp = events_path(event_count, seed).with_suffix(".partial")
        events(tmp, event_count, seed)
        tmp.replace(events_path(event_count, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cdrs", type=int, default=100_000, help="voice CDRs for NordCarrier")
    parser.add_argument("--events", type=int, default=10_000, help="subscription events for StreamPlus")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--shuffled-ids", action="store_true", help="CDR ids in a scrambled order")
    parser.add_argument("--shape", choices=SHAPES, help="only the usage of this contract shape")
    parser.add_argument("--records", type=int, default=100_000, help="records of --shape")
    args = parser.parse_args(argv)
    if args.shape:
        print(ensure_shape(args.shape, args.records, args.seed))
        return 0
    ensure(args.cdrs, args.events, args.seed, args.shuffled_ids)
    paths = (cdr_path(args.cdrs, args.seed, args.shuffled_ids), events_path(args.events, args.seed))
    for path in (*paths, customers_path()):
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
