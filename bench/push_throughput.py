"""edgeshrink's push (ask what is missing, SFTP to a temporary name, sha256 check on
the board, rename) vs a plain paramiko SFTP put of the same bytes, to a real sshd on
loopback, and (as root, with --simulated) to a simulated board behind a 200 Mbit/s
link, where the link rather than this machine's two cores is the bottleneck.
Goal: push throughput / plain SFTP throughput >= 0.9.
Usage: python bench/push_throughput.py [--mib 64] [--rounds 9] [--simulated]"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from common import Report, median, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--simulated", action="store_true", help="a namespaced board on a 200 Mbit/s link")
    args = parser.parse_args()
    from edgeshrink.host import inventory, push
    from edgeshrink.host.deploy import open_session
    from edgeshrink.host.lab.sshd import SshServer

    work = Path(tempfile.mkdtemp(prefix="edgeshrink-push-"))
    ours, plain = [], []
    if args.simulated:
        from edgeshrink.host.lab.board import SimulatedBoard

        server = SimulatedBoard(240, work / "sshd", cpus=2.0, memory_mb=4096, rate_mbit=200)
        where = "a simulated board on a 200 Mbit/s link"
    else:
        server = SshServer(work / "sshd")
        where = "sshd on loopback"
    with server:
        (work / "devices.toml").write_text(server.credentials().device_toml(
            "board", root=str(work / "root"), python=sys.executable))
        device = inventory.load(work / "devices.toml").get("board")
        with open_session(device) as session:
            sftp = session.connector.sftp
            for round_index in range(args.rounds):
                payload = work / ("payload%d.bin" % round_index)  # new bytes: nothing to skip
                payload.write_bytes(os.urandom(args.mib * 2 ** 20))
                sha = hashlib.sha256(payload.read_bytes()).hexdigest()

                def plain_put():
                    started = time.perf_counter()
                    sftp.put(str(payload), str(work / ("plain%d.bin" % round_index)))
                    plain.append(time.perf_counter() - started)

                def our_push():
                    started = time.perf_counter()
                    summary = push.push(session, {sha: payload})
                    ours.append(time.perf_counter() - started)
                    assert summary.bytes_sent == payload.stat().st_size

                # Alternate who goes first so page-cache and drift effects hit both.
                for step in ((plain_put, our_push) if round_index % 2 == 0 else (our_push, plain_put)):
                    step()
                payload.unlink()
                (work / ("plain%d.bin" % round_index)).unlink()
    mib = float(args.mib)
    a, b = mib / median(ours), mib / median(plain)
    report = Report("push_throughput")
    report.print("push vs plain SFTP, %d MiB to %s, median of %d rounds" % (args.mib, where, args.rounds))
    report.print(row("method", "MiB/s"))
    report.print(row("plain SFTP put", "%.1f" % b))
    report.print(row("edgeshrink push", "%.1f" % a))
    report.print(row("ratio", "%.3f" % (a / b)))
    report.save()


if __name__ == "__main__":
    main()
