"""``python agent.pyz --root DIR`` serves the protocol on stdin/stdout;
``--child`` runs one measurement pass (started by the agent itself)."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="edgeshrink-agent")
    parser.add_argument("--root", default="~/.edgeshrink", help="the only directory the agent writes to")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if sys.version_info < (3, 8):
        sys.stderr.write("edgeshrink agent needs Python >= 3.8, this is %s\n" % sys.version.split()[0])
        return 2
    if args.child:
        from edgeshrink.agent.measure import child_main

        return child_main()
    from edgeshrink.agent.server import Server

    return Server(args.root, sys.stdin.buffer, sys.stdout.buffer).serve()


if __name__ == "__main__":
    sys.exit(main())
