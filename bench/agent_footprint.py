"""The agent's cost on a board: zipapp size, cold start to hello, idle RSS.
Cold start is measured from spawning the interpreter to receiving the hello frame, for
the host's Python and, when present, the Python 3.8 board environment (.venv38).
Usage: python bench/agent_footprint.py [--repeat 5]"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO, Report, row


def start_to_hello(python, bundle, root):
    started = time.perf_counter()
    process = subprocess.Popen([python, str(bundle.path), "--root", root], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdout.readline()
    elapsed = time.perf_counter() - started
    import psutil

    rss = psutil.Process(process.pid).memory_info().rss / 2 ** 20
    process.stdin.close()
    process.wait()
    return elapsed, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from edgeshrink.host import agent_bundle

    bundle = agent_bundle.build(tempfile.mkdtemp())
    report = Report("agent_footprint")
    report.print("agent zipapp: %.1f KiB (sha256 %s)" % (bundle.size / 1024, bundle.sha256[:12]))
    report.print(row("python", "hello ms", "idle RSS MiB"))
    pythons = [("host " + sys.version.split()[0], sys.executable)]
    if (REPO / ".venv38/bin/python").exists():
        pythons.append(("board 3.8", str(REPO / ".venv38/bin/python")))
    for label, python in pythons:
        root = tempfile.mkdtemp()
        start_to_hello(python, bundle, root)  # first start fills the OS page cache
        samples = [start_to_hello(python, bundle, root) for _ in range(args.repeat)]
        report.print(row(label, "%.0f" % (1000 * statistics.median(s[0] for s in samples)),
                  "%.1f" % statistics.median(s[1] for s in samples)))
    report.save()


if __name__ == "__main__":
    main()
