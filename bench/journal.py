"""Ingest journal: time and peak RSS of `prune` and `resend` over a journal of acknowledged bars, side by side
with the journal module of a baseline commit (the one that parsed the whole journal at once).

    python bench/journal.py                       # 1,000,000 bars (1,000 symbols x 1,000 days), ~5 minutes
    python bench/journal.py --bars 200000         # quicker

Cases, each in a fresh process (peak RSS = its VmHWM) on a copy of the same journal:
- prune, owed: PostgreSQL holds nothing yet (a backfill in progress); two prunes, the first one builds the index
- resend, owed: everything is re-sent to an embedded broker
- prune, loaded / resend, loaded: PostgreSQL holds every bar (COPY), so prune deletes all, resend sends none

Prints the figures, then one JSON line {"bench": "journal", ...}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import REPO

MODULE = "services/ingest/src/turnpoint/ingest/journal.py"


def _module(baseline: str | None, tmp: Path) -> ModuleType:
    """The current journal module, or the baseline commit's (loaded from `git show`)."""
    if baseline is None:
        from turnpoint.ingest import journal

        return journal
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{baseline}:{MODULE}"], check=True,
                            capture_output=True).stdout
    path = tmp / "journal_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("journal_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["journal_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _hwm_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across exec), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    from turnpoint.core.settings import KafkaSettings

    tmp = Path(args.folder).parent
    module = _module(None if args.use == "new" else args.use, tmp)
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)
    before = _hwm_mb()
    out: dict[str, Any] = {}
    if args.op == "prune":
        journal = module.Journal(Path(args.folder), kafka)
        for n in (1, 2):
            t0 = time.perf_counter()
            out[f"removed{n}"] = module.prune(journal, args.dsn)
            out[f"seconds{n}"] = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        done = module.resend(kafka, args.dsn, Path(args.folder))
        out.update(seconds1=time.perf_counter() - t0, items=done.items, covered=done.covered)
    out.update(rss_before=before, rss_peak=_hwm_mb())
    print(json.dumps(out))


def write_journal(folder: Path, kafka: Any, bars: int, symbols: int, csv: Path) -> int:
    """The journal of `bars` acknowledged bars, and the same bars as a COPY file for the loaded cases."""
    from turnpoint.core import topics
    from turnpoint.core.serde import encode_items
    from turnpoint.ingest.journal import Journal

    journal = Journal(folder, kafka)
    topic = topics.BARS.full_name(kafka.topic_prefix)
    written = 0
    days = bars // symbols
    fh = csv.open("w")
    for s in range(symbols):
        items = [{"symbol": f"S{s:04d}", "date": f"{1990 + d // 336:04d}-{1 + (d // 28) % 12:02d}-{1 + d % 28:02d}",
                  "open": 10.0 + d, "high": 11.0 + d, "low": 9.0 + d, "close": 10.5 + d, "volume": float(d)}
                 for d in range(days)]
        for i in range(0, days, 500):
            journal.append(topic, f"S{s:04d}", encode_items(items[i:i + 500]))
        fh.writelines(f"{b['symbol']},day,{b['date']},{b['date']},{b['open']},{b['high']},{b['low']},{b['close']},"
                      f"{b['volume']}\n" for b in items)
        written += len(items)
    fh.close()
    journal.close()
    return written


def run(tmp: Path, source: Path, op: str, baseline: str | None, dsn: str, bootstrap: str, prefix: str) -> dict:
    folder = tmp / "run"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    argv = [sys.executable, __file__, "--child", op, "--folder", str(folder), "--dsn", dsn, "--bootstrap", bootstrap,
            "--prefix", prefix]
    argv += ["--use", baseline or "new"]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        msg = f"{op} ({baseline or 'new'}) failed: {done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--baseline", default="f5137d7", help="commit whose journal module is the baseline")
    ap.add_argument("--child")
    ap.add_argument("--use", help="child: 'new' or the commit whose journal module to run")
    ap.add_argument("--folder")
    ap.add_argument("--dsn")
    ap.add_argument("--bootstrap")
    ap.add_argument("--prefix")
    args = ap.parse_args()
    if args.child:
        args.op = args.child
        child(args)
        return

    import psycopg

    from turnpoint.cli.embedded import free_port, start_broker, start_postgres, stop_pid, stop_postgres
    from turnpoint.core.kafka import ensure_topics
    from turnpoint.core.settings import KafkaSettings
    from turnpoint.loader.migrations import migrate

    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = start_broker(free_port(), tmp / "broker.log")
        pg = start_postgres(tmp / "pg", free_port())
        try:
            migrate(pg.url)
            prefix = f"bench{time.time_ns()}."
            kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix)
            ensure_topics(kafka)
            source = tmp / "journal"
            csv = tmp / "bars.csv"
            written = write_journal(source, kafka, args.bars, args.symbols, csv)
            segments = len(list(source.glob("*.jsonl")))
            size = sum(p.stat().st_size for p in source.glob("*.jsonl")) / 2**20
            print(f"journal: {written:,} bars in {segments} segments, {size:,.0f} MiB")

            def case(name: str, op: str) -> None:
                for label, base in (("baseline", args.baseline), ("new", None)):
                    results.setdefault(name, {})[label] = r = run(tmp, source, op, base, pg.url, broker.bootstrap,
                                                                  prefix)
                    print(f"  {name:15} {label:8} {json.dumps({k: round(v, 2) for k, v in r.items()})}", flush=True)

            case("prune owed", "prune")
            case("resend owed", "resend")
            with psycopg.connect(pg.url) as conn, conn.cursor() as cur, cur.copy(
                    'COPY price (symbol, interval, start, "end", open, high, low, close, volume) FROM STDIN '
                    "(FORMAT csv)") as cp, csv.open("rb") as fh:
                while block := fh.read(1 << 20):
                    cp.write(block)
            case("prune loaded", "prune")
            case("resend loaded", "resend")
        finally:
            stop_postgres(pg.pgdata, mode="immediate")
            stop_pid(broker.pid)
    print()
    print(f"{'case':15} {'baseline s':>11} {'new s':>8} {'x':>6} {'base RSS':>9} {'new RSS':>8} {'x':>6}  (MiB)")
    for name, r in results.items():
        b, n = r["baseline"], r["new"]
        print(f"{name:15} {b['seconds1']:11.2f} {n['seconds1']:8.2f} {b['seconds1'] / n['seconds1']:6.1f} "
              f"{b['rss_peak']:9.0f} {n['rss_peak']:8.0f} {b['rss_peak'] / n['rss_peak']:6.1f}")
        if "seconds2" in b:
            print(f"{'  (2nd prune)':15} {b['seconds2']:11.2f} {n['seconds2']:8.2f} {b['seconds2'] / n['seconds2']:6.1f}")
    owed = results["prune owed"]
    print(json.dumps({
        "bench": "journal", "bars": args.bars, "segments": segments,
        "throughput": round(args.bars / owed["new"]["seconds2"]), "unit": "bars/s (steady prune, oldest owed)",
        "baseline_name": f"journal module of {args.baseline}", "baseline": round(args.bars / owed["baseline"]["seconds2"]),
        "ratio": round(owed["baseline"]["seconds2"] / owed["new"]["seconds2"], 1),
        "peak_rss_mb": {name: {k: round(v["rss_peak"]) for k, v in r.items()} for name, r in results.items()},
        "seconds": {name: {k: round(v["seconds1"], 2) for k, v in r.items()} for name, r in results.items()},
    }))


if __name__ == "__main__":
    main()
