"""Per-variant latency, size and accuracy vs fp32 for the demo, measured on `local`
in one run. Usage: python bench/variants.py [--threads 1]"""

import argparse

from common import Report, demo_variants, isolated_home, local_device, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    isolated_home()
    from edgeshrink.host import agent_bundle, deploy
    from edgeshrink.host.connectors.local import LocalConnector
    from edgeshrink.host.session import AgentSession
    from edgeshrink.shared.types import BenchSettings

    source, variants = demo_variants()
    device = local_device(threads=args.threads)
    settings = BenchSettings(threads=args.threads, warmup_runs=20, min_runs=300, max_runs=3000,
                             min_time_s=2.0, max_time_s=10.0)
    with AgentSession(LocalConnector(device), agent_bundle.build()) as session:
        run = deploy.measure(session, source, variants, settings)
    results = {}
    for v in run.variants:
        m = v.measurement
        if not m.ok:
            continue   # shown by the deploy itself; this table compares what was measured
        results[v.name] = (m.figure("p50_ms").value, v.manifest["size_bytes"], m.figure("accuracy").value,
                           m.figure("peak_rss_mb").value)
    base = results["fp32"]
    report = Report("variants")
    report.print("demo variants vs fp32 on local (threads=%d); latency = p50 measured by the agent" % args.threads)
    report.print(row("variant", "p50 ms", "speedup", "size ratio", "accuracy", "acc delta", "peak RSS"))
    for name, (p50, size, acc, rss) in results.items():
        report.print(row(name, "%.3f" % p50, "%.2fx" % (base[0] / p50), "%.2fx" % (base[1] / size),
                         "%.2f%%" % (100 * acc), "%+.2f pt" % (100 * (acc - base[2])), "%.1f MiB" % rss))
    report.save()


if __name__ == "__main__":
    main()
