"""Wall time of `edgeshrink deploy --device local` with the demo, through the CLI:
cold (empty variant cache and device) vs warm (everything cached and already pushed).
The demo's one-time training is reported separately. Usage: python bench/deploy_time.py"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import Report, REPO, isolated_home, row


def deploy(env):
    exe = str(Path(sys.executable).parent / "edgeshrink")
    started = time.perf_counter()
    subprocess.run([exe, "--devices", str(REPO / "devices.toml"), "deploy", "--device", "local"],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main():
    scratch = isolated_home()
    from edgeshrink.host.demo.build import ensure_demo

    demo = ensure_demo(log=lambda m: None)  # trained once; copied into the cold cache below
    cold_cache = scratch / "cache"
    shutil.copytree(demo.folder.parent, cold_cache / "demo")
    env = dict(os.environ, EDGESHRINK_CACHE=str(cold_cache))
    cold = deploy(env)
    warm = deploy(env)
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
