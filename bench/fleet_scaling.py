"""16 simulated boards measured in parallel vs 1 board: wall-time ratio of
`edgeshrink bench` (goal <= 1.5). Each board is a network namespace with its own sshd,
a 100 Mbit/s link and cgroup limits of 0.1 CPU and 512 MiB, so the boards' own work
fits in this machine's 2 cores and the ratio shows the host's overhead per board.
Needs root (see host/lab/board.py). Usage: python bench/fleet_scaling.py [--boards 16]"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Report, row


def bench(devices, selector, model, env):
    exe = str(Path(sys.executable).parent / "edgeshrink")
    started = time.perf_counter()
    subprocess.run([exe, "--devices", str(devices), "bench", str(model)] + selector +
                   ["--min-runs", "20", "--min-time", "2", "--max-time", "4", "--parallel", "16"],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", type=int, default=16)
    parser.add_argument("--cpus", type=float, default=0.1)
    args = parser.parse_args()
    from edgeshrink.host.lab.board import SimulatedBoard, why_unavailable
    from edgeshrink.host.lab.models import tiny_convnet

    reason = why_unavailable()
    if reason:
        sys.exit("fleet_scaling: %s" % reason)
    work = Path(tempfile.mkdtemp(prefix="edgeshrink-fleet-"))
    model = tiny_convnet(work / "model.onnx", size=64, channels=32)
    env = dict(os.environ, EDGESHRINK_DB=str(work / "results.sqlite"))
    boards = []
    try:
        text = ""
        for i in range(args.boards):
            board = SimulatedBoard(100 + i, work / ("b%d" % i), cpus=args.cpus, memory_mb=512, rate_mbit=100)
            board.start()
            boards.append(board)
            text += board.credentials().device_toml("sim%d" % i, python=sys.executable, tags=["fleet"],
                                                    root=str(work / ("root%d" % i)))
        devices = work / "devices.toml"
        devices.write_text(text)
        subprocess.run([str(Path(sys.executable).parent / "edgeshrink"), "compress", str(model)],
                       env=env, check=True, capture_output=True)
        bench(devices, ["-d", "sim0"], model, env)  # warm up: agent pushed, caches filled
        one = bench(devices, ["-d", "sim0"], model, env)
        many = bench(devices, ["--tag", "fleet"], model, env)
    finally:
        for board in boards:
            board.stop()
    report = Report("fleet_scaling")
    report.print("edgeshrink bench on simulated boards (%.2f CPU, 512 MiB, 100 Mbit/s each)" % args.cpus)
    report.print(row("boards", "wall s"))
    report.print(row("1", "%.1f" % one))
    report.print(row(str(args.boards), "%.1f" % many))
    report.print(row("ratio", "%.2f" % (many / one)))
    report.save()


if __name__ == "__main__":
    main()
