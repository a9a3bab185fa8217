"""Compression of recipes/demo-combined.toml with 1 worker vs 2: this process (torch on
all cores), a local process pool of 2 (one core each), and a local Ray of 2 CPUs. Each
starts from an empty variant cache (the demo itself is shared), in one run; the
variant files must come out the same (sha256) whoever made them.
Usage: python bench/compress_fanout.py [--recipe recipes/demo-combined.toml] [--skip-ray]"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Report, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "demo-combined.toml"))
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    from edgeshrink.host import deploy
    from edgeshrink.host.compress import recipe
    from edgeshrink.host.compress.executors import ExecutorChoice

    source = deploy.resolve_model(None, log=lambda m: print(m, file=sys.stderr))
    specs = recipe.load(args.recipe)
    setups = [("1 worker (this process)", ExecutorChoice("process", 1)),
              ("2 workers (process pool)", ExecutorChoice("process", 2))]
    if not args.skip_ray:
        setups.append(("2 workers (Ray, local)", ExecutorChoice("ray", 2)))
    scratch = Path(tempfile.mkdtemp(prefix="edgeshrink-fanout-"))
    walls, files = {}, {}
    for label, choice in setups:
        os.environ["EDGESHRINK_CACHE"] = str(scratch / label.split()[0] / label.split()[2].strip("(,"))
        started = time.perf_counter()
        made = deploy.compress(source, specs, log=lambda m: print(m, file=sys.stderr), executor=choice)
        walls[label] = time.perf_counter() - started
        files[label] = {v.name: (v.manifest.get("sha256"), (v.manifest.get("host_fidelity") or {}).get("accuracy"))
                        for v in made}
        failed = [v.name for v in made if not v.ok]
        if failed:
            sys.exit("compress_fanout: %s failed under %s" % (", ".join(failed), label))
    report = Report("compress_fanout")
    report.print("compression of %s (%d variants) from an empty cache, %d CPUs"
                 % (Path(args.recipe).name, len(specs), os.cpu_count() or 0))
    report.print(row("setup", "wall s", "vs 1 worker", widths=[28, 10, 12]))
    base = walls[setups[0][0]]
    for label, _ in setups:
        report.print(row(label, "%.1f" % walls[label], "%.2f" % (walls[label] / base), widths=[28, 10, 12]))
    first = setups[0][0]
    differing = [name for name in files[first]
                 if any(files[label][name][0] != files[first][name][0] for label, _ in setups)]
    report.print("variant files identical across setups: %d of %d" % (len(files[first]) - len(differing),
                                                                      len(files[first])))
    for name in differing:   # trained variants: float sums in another order on another thread count
        report.print("  %s differs; host accuracy %s" % (name, ", ".join(
            "%.2f%% (%s)" % (100 * files[label][name][1], label.split(" (")[1].rstrip(")"))
            for label, _ in setups if files[label][name][1] is not None)))
    report.save()


if __name__ == "__main__":
    main()
