"""Agent-measured median latency vs a bare onnxruntime loop, same model, same threads.

Goal: ratio <= 1.02 (the agent's timing adds no more than 2%). Both sides run in fresh
processes of the same interpreter; rounds alternate A/B so drift on a noisy machine
hits both. Usage: python bench/agent_overhead.py [--rounds 5] [--runs 400] [--threads 1]
"""

import argparse
import json
import subprocess
import sys

from common import Report, demo_variants, isolated_home, local_device, median, row

BARE_LOOP = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
path, threads, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
data = np.load(sys.argv[5])
name = session.get_inputs()[0].name
feeds = {name: data[sys.argv[6]].astype(np.float32)}
for _ in range(warmup):
    session.run(None, feeds)
samples = []
for _ in range(runs):
    t0 = time.perf_counter()
    session.run(None, feeds)
    samples.append((time.perf_counter() - t0) * 1000.0)
samples.sort()
print(json.dumps(samples[len(samples) // 2]))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    isolated_home()

    from edgeshrink.host import agent_bundle, dataset, paths
    from edgeshrink.host.connectors.local import LocalConnector
    from edgeshrink.host.session import AgentSession
    from edgeshrink.host import push
    from edgeshrink.shared.conventions import EventKind, Op
    from edgeshrink.shared.evaluation import PROBE_PREFIX
    from edgeshrink.shared.measurement import VariantMeasurement
    from edgeshrink.shared.types import BenchSettings

    source, variants = demo_variants()
    chosen = [v for v in variants if v.name in ("fp32", "int8-static")]
    eval_path, eval_sha = dataset.evaluation_file(source.dataset, source.references, source.metrics,
                                                 paths.cache_dir() / "data")
    settings = BenchSettings(threads=args.threads, warmup_runs=50, min_runs=args.runs, max_runs=args.runs,
                             min_time_s=0.0, max_time_s=600.0, fidelity_samples=1)
    device = local_device(threads=args.threads)
    report = Report("agent_overhead")
    report.print("agent-measured median vs bare onnxruntime loop (threads=%d, %d runs, %d rounds)"
                 % (args.threads, args.runs, args.rounds))
    report.print(row("variant", "agent ms", "bare ms", "ratio"))
    with AgentSession(LocalConnector(device), agent_bundle.build()) as session:
        push.push(session, dict({v.sha256: v.path for v in chosen}, **{eval_sha: eval_path}))
        for variant in chosen:
            agent_medians, bare_medians = [], []
            for _ in range(args.rounds):
                measured = []
                session.call(Op.BENCH, {"variants": [{"name": variant.name, "blob": variant.sha256}],
                                        "data_blob": eval_sha, "settings": settings.to_dict()},
                             on_event=lambda kind, data: measured.append(VariantMeasurement.from_dict(data))
                             if kind == EventKind.MEASUREMENT else None)
                agent_medians.append(measured[0].figure("p50_ms").value)
                out = subprocess.run([sys.executable, "-c", BARE_LOOP, str(variant.path), str(args.threads),
                                      str(args.runs), "50", str(eval_path),
                                      PROBE_PREFIX + next(iter(source.dataset.inputs))],
                                     capture_output=True, text=True, check=True)
                bare_medians.append(json.loads(out.stdout))
            a, b = median(agent_medians), median(bare_medians)
            report.print(row(variant.name, "%.4f" % a, "%.4f" % b, "%.3f" % (a / b)))
    report.save()


if __name__ == "__main__":
    main()
