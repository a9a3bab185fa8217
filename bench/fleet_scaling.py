"""`edgeshrink deploy --tag` over 1, 16 and 100 simulated boards, in one run: wall time
and its ratio to one board, the host's peak memory and its growth per board, and the
timed samples each variant got (so boards starved of CPU cannot hide behind a time
cap). Each board is a network namespace with its own sshd, a 100 Mbit/s link and cgroup
limits (0.1 CPU, 384 MiB). All boards share this machine's cores, so at most
--parallel boards (16: 1.6 cores of work) are worked on at once; 100 boards then take
about 100/16 of the 16-board time if the host adds nothing per board.
Needs root (see host/lab/board.py).
Usage: python bench/fleet_scaling.py [--sizes 1,16,100] [--parallel 16] [--cpus 0.1]"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import Report, row

TIMING = ["--min-runs", "20", "--min-time", "0.5", "--max-time", "2"]


def deploy(devices, tag, model, env, parallel):
    """Wall seconds, the host process's peak RSS (MiB) and the --json document."""
    import psutil

    exe = str(Path(sys.executable).parent / "edgeshrink")
    started = time.perf_counter()
    process = subprocess.Popen([exe, "--devices", str(devices), "deploy", str(model), "--tag", tag, "--json",
                                "--parallel", str(parallel)] + TIMING, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    peak = [0]

    def watch():
        try:
            host = psutil.Process(process.pid)
            while process.poll() is None:
                peak[0] = max(peak[0], host.memory_info().rss)
                time.sleep(0.05)
        except psutil.Error:
            pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = process.communicate()
    wall = time.perf_counter() - started
    watcher.join()
    return wall, peak[0] / 2 ** 20, json.loads(out)


def _stored_runs(document):
    """The runs a deploy's --json document holds: one device's document is its run;
    several devices' is {"devices": [outcome]}."""
    if "devices" in document:
        return [o["run"] for o in document["devices"] if o.get("error") is None and o.get("run")]
    return [document] if document.get("ok") else []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,16,100")
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--cpus", type=float, default=0.1)
    args = parser.parse_args()
    from edgeshrink.host.lab.board import why_unavailable
    from edgeshrink.host.lab.fleet import BoardFleet
    from edgeshrink.host.lab.models import tiny_convnet
    from edgeshrink.host.store import ResultsStore

    reason = why_unavailable()
    if reason:
        sys.exit("fleet_scaling: %s" % reason)
    sizes = [int(size) for size in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="edgeshrink-fleet-"))
    model = tiny_convnet(work / "model.onnx", size=64, channels=32)
    env = dict(os.environ, EDGESHRINK_DB=str(work / "results.sqlite"))
    subprocess.run([str(Path(sys.executable).parent / "edgeshrink"), "compress", str(model)],
                   env=env, check=True, capture_output=True)
    results = {}
    with BoardFleet(max(sizes), work, first_index=50, cpus=args.cpus, memory_mb=384, rate_mbit=100) as fleet:
        names = fleet.names()
        full = fleet.devices_toml()
        tables = full.split("[devices.")[1:]
        for size in sizes:   # each size a tag over its first boards
            devices = work / ("devices-%d.toml" % size)
            devices.write_text("".join("[devices." + table.replace('"lab"', '"size%d"' % size)
                                       for table in tables[:size]))
            if size == sizes[0]:
                deploy(devices, "size%d" % size, model, env, args.parallel)   # warm-up: agent pushed, caches filled
            results[size] = deploy(devices, "size%d" % size, model, env, min(size, args.parallel))
    store = ResultsStore(env["EDGESHRINK_DB"])
    report = Report("fleet_scaling")
    report.print("edgeshrink deploy --tag over simulated boards (%.2f CPU, 384 MiB, 100 Mbit/s each), at most %d "
                 "at once; %s" % (args.cpus, args.parallel, " ".join(TIMING)))
    widths = [8, 9, 10, 11, 13, 12, 13, 13]
    report.print(row("boards", "ok", "wall s", "vs 1 board", "per board s", "host MiB", "samples min", "samples med",
                     widths=widths))
    one_wall, one_rss = results[sizes[0]][0], results[sizes[0]][1]
    for size in sizes:
        wall, rss, document = results[size]
        runs = ok = _stored_runs(document)
        samples = [v["measurement"]["latency_pass"]["latency"]["n"] for r in runs for v in r["variants"]
                   if v["measurement"].get("latency_pass")]
        report.print(row(str(size), "%d/%d" % (len(ok), size), "%.1f" % wall, "%.2f" % (wall / one_wall),
                         "%.2f" % (wall * min(size, args.parallel) / size), "%.0f" % rss,
                         str(min(samples)) if samples else "-",
                         "%.0f" % statistics.median(samples) if samples else "-", widths=widths))
    largest = sizes[-1]
    if largest > sizes[0]:
        growth = (results[largest][1] - one_rss) / (largest - sizes[0])
        report.print("host memory: %.0f MiB with 1 board, %.0f MiB with %d: %.2f MiB more per board"
                     % (one_rss, results[largest][1], largest, growth))
    stored = {store.load_run(device=name).device for name in names[:largest]}
    report.print("runs stored: %d (one per board per size, plus the warm-up); boards with a stored run: %d of %d"
                 % (store.count_runs(), len(stored), largest))
    report.save()
    failed = [size for size in sizes if len(_stored_runs(results[size][2])) != size]
    if failed or len(stored) != largest:
        sys.exit("fleet_scaling: not every board finished with a stored run (sizes %s)" % failed)


if __name__ == "__main__":
    main()
