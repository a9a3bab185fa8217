"""Wall time of `edgeshrink deploy --device local` with the demo, through the CLI:
cold (empty variant cache and device) vs warm (everything cached and already pushed).
The demo's one-time training is reported separately. The cold deploy's own output is
saved as bench/results/deploy_example.txt: the README's example output is quoted from
it. Usage: python bench/deploy_time.py"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Report, isolated_home, row


def deploy(env):
    exe = str(Path(sys.executable).parent / "edgeshrink")
    started = time.perf_counter()
    # A wide, non-terminal stdout: the table as a CI log shows it.
    done = subprocess.run([exe, "--devices", str(REPO / "devices.toml"), "deploy", "--device", "local"],
                          env=dict(env, COLUMNS="160"), check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def main():
    scratch = isolated_home()
    from edgeshrink.host.demo.build import ensure_demo

    demo = ensure_demo(log=lambda m: None)  # trained once; copied into the cold cache below
    cold_cache = scratch / "cache"
    shutil.copytree(demo.folder.parent, cold_cache / "demo")
    env = dict(os.environ, EDGESHRINK_CACHE=str(cold_cache))
    cold, cold_output = deploy(env)
    warm, _ = deploy(env)
    example = Report("deploy_example")
    for line in cold_output.splitlines():
        example.print(line.rstrip())
    example.save()
    report = Report("deploy_time")
    report.print("edgeshrink deploy --device local (demo, default settings: >= 1 s of timed runs per variant)")
    report.print(row("case", "wall s"))
    report.print(row("cold", "%.1f" % cold))
    report.print(row("warm", "%.1f" % warm))
    report.print(row("warm/cold", "%.2f" % (warm / cold)))
    report.print(row("demo training", "%.0f" % demo.meta["train_seconds"]))
    report.save()


if __name__ == "__main__":
    main()
