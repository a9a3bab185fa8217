"""Host memory per connected board: RSS of this process with N open agent sessions
over SSH (real sshd on loopback) vs none. Usage: python bench/host_rss_per_board.py [--boards 16]"""

import argparse
import sys
import tempfile
from pathlib import Path

import psutil

from common import Report, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", type=int, default=16)
    args = parser.parse_args()
    from edgeshrink.host import inventory
    from edgeshrink.host.deploy import open_session
    from edgeshrink.host.lab.sshd import SshServer

    work = Path(tempfile.mkdtemp(prefix="edgeshrink-rss-"))
    with SshServer(work / "sshd") as server:
        text = "".join(server.credentials().device_toml("b%d" % i, root=str(work / ("root%d" % i)),
                                                        python=sys.executable) for i in range(args.boards + 1))
        (work / "devices.toml").write_text(text)
        inv = inventory.load(work / "devices.toml")
        warm = open_session(inv.get("b%d" % args.boards))  # imports and crypto set up once
        warm.__enter__()
        before = psutil.Process().memory_info().rss
        sessions = []
        for i in range(args.boards):
            session = open_session(inv.get("b%d" % i))
            session.__enter__()
            session.call("ping")
            sessions.append(session)
        after = psutil.Process().memory_info().rss
        for session in sessions + [warm]:
            session.__exit__(None, None, None)
    report = Report("host_rss_per_board")
    report.print("host RSS with %d connected boards (agent sessions over SSH)" % args.boards)
    report.print(row("measure", "MiB"))
    report.print(row("RSS before", "%.1f" % (before / 2 ** 20)))
    report.print(row("RSS after", "%.1f" % (after / 2 ** 20)))
    report.print(row("per board", "%.2f" % ((after - before) / 2 ** 20 / args.boards)))
    report.save()


if __name__ == "__main__":
    main()
