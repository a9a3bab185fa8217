"""Start a board lab: ``python -m edgeshrink.host.lab --boards 2 [--simulated]``.

Prints a devices.toml fragment for the boards and keeps them up until Ctrl-C.
Plain boards are sshd on 127.0.0.1; ``--simulated`` boards are network namespaces
with a capped link and cgroup CPU/memory limits (root only).
"""

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from .board import SimulatedBoard, why_unavailable
from .sshd import SshServer


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m edgeshrink.host.lab")
    parser.add_argument("--boards", type=int, default=1)
    parser.add_argument("--simulated", action="store_true", help="namespaced boards with limits (root)")
    parser.add_argument("--cpus", type=float, default=1.0, help="CPU cores per simulated board")
    parser.add_argument("--memory-mb", type=int, default=1024, help="memory per simulated board")
    parser.add_argument("--rate-mbit", type=int, default=100, help="link speed per simulated board")
    parser.add_argument("--python", default=sys.executable, help="the boards' Python (>= 3.8, with onnxruntime)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    if args.simulated and why_unavailable():
        parser.error(why_unavailable())
    work = Path(args.workdir or tempfile.mkdtemp(prefix="edgeshrink-lab-"))
    boards = []
    try:
        for i in range(args.boards):
            if args.simulated:
                board = SimulatedBoard(i, work / ("board%d" % i), cpus=args.cpus, memory_mb=args.memory_mb,
                                       rate_mbit=args.rate_mbit).start()
            else:
                board = SshServer(work / ("board%d" % i)).start()
            boards.append(board)
            sys.stdout.write(board.credentials().device_toml("lab%d" % i, python=args.python, tags=["lab"],
                                                             root=str(work / ("root%d" % i))))
        sys.stdout.write("# lab up: add the tables above to devices.toml; Ctrl-C stops it\n")
        sys.stdout.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        for board in boards:
            board.stop()


if __name__ == "__main__":
    main()
