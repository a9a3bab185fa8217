"""PostgreSQL vs SQLite results store: the time to save a run of 10 variants and to read
it back (load_run, then one variant's history), measured side by side, alternating
backends each repetition. PostgreSQL is a real server on 127.0.0.1 (host/lab/postgres.py,
fsync off as in the tests; SQLite keeps its default journal and syncs).
Usage: python bench/store_backends.py [--reps 40] [--variants 10] [--samples 2000]"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import Report, median, row


def timed(action):
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    from edgeshrink.host.lab.postgres import TemporaryPostgres, unavailable
    from edgeshrink.host.lab.sample_runs import sample_run
    from edgeshrink.host.store import ResultsStore

    reason = unavailable()
    if reason:
        sys.exit("store_backends: %s" % reason)
    scratch = Path(tempfile.mkdtemp(prefix="edgeshrink-store-bench-"))
    report = Report("store_backends")
    with TemporaryPostgres() as server:
        stores = {"sqlite": ResultsStore(scratch / "results.sqlite"), "postgresql": ResultsStore(server.url)}
        times = {name: {"save": [], "load": [], "history": []} for name in stores}
        for rep in range(args.reps + 2):   # the first two warm caches and connections up, and are dropped
            run = sample_run(tag="r%d" % rep, variants=args.variants, samples=args.samples, seed=rep)
            order = list(stores) if rep % 2 == 0 else list(reversed(list(stores)))
            for name in order:
                store = stores[name]
                saved = {}
                save = timed(lambda: saved.setdefault("id", store.save_run(run)))
                load = timed(lambda: store.load_run(run_id=saved["id"]))
                history = timed(lambda: store.history(run.device, run.variants[3].manifest["sha256"]))
                if rep >= 2:
                    times[name]["save"].append(save)
                    times[name]["load"].append(load)
                    times[name]["history"].append(history)
        report.print("results store: one run of %d variants, %d raw samples each; median of %d repetitions"
                     % (args.variants, args.samples, args.reps))
        report.print(row("operation", "sqlite ms", "postgres ms", "pg/sqlite", widths=[22, 12, 12, 10]))
        for operation in ("save", "load", "history"):
            lite, pg = median(times["sqlite"][operation]), median(times["postgresql"][operation])
            report.print(row(operation, "%.2f" % lite, "%.2f" % pg, "%.2f" % (pg / lite), widths=[22, 12, 12, 10]))
        report.print("stored runs after the bench: sqlite %d, postgresql %d"
                     % (stores["sqlite"].count_runs(), stores["postgresql"].count_runs()))
    report.save()


if __name__ == "__main__":
    main()
