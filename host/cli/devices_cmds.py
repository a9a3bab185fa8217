"""`edgeshrink devices ...`: list, trust, check and set up the boards in devices.toml."""

from typing import Annotated, List, Optional

import typer

from .. import board_check, board_setup, fleet, render
from .. import deploy as jobs
from ..connectors import hostkeys, ssh_target
from . import common
from .common import CommandFailed
from .options import AcceptNewHostKey, JsonFlag, Parallel, Tags

DeviceArgument = Annotated[str, typer.Argument(help="Device name from devices.toml.")]
DeviceArguments = Annotated[Optional[List[str]], typer.Argument(help="Devices (default: all).")]


@common.command
def list_devices(as_json: JsonFlag = False):
    """List the devices in devices.toml."""
    inv = common.load_devices()
    if not as_json:
        render.out.print(render.devices_table(inv))
    return {"devices": {name: {"connection": d.connection, "host": d.host, "runtime": d.runtimes,
                               "threads": d.threads, "tags": d.tags, "constraints": d.constraints.to_dict(),
                               "labgrid_place": d.labgrid_place, "labgrid_tags": d.labgrid_tags}
                        for name, d in inv.devices.items()}}


@common.command
def trust(device: DeviceArgument):
    """Record a board's SSH host key in known_hosts (refuses if a different key is recorded)."""
    target = common.find_device(device)
    if target.connection != "ssh":
        render.out.print("%s is a %s device: it has no host key to trust" % (device, target.connection))
        return
    ssh = ssh_target.for_device(target)
    status_text, kind, print_ = hostkeys.trust(device, ssh, target.connect_timeout_s)
    render.out.print("%s: %s %s %s for %s in %s" % (device, status_text, kind, print_, ssh.key_name, ssh.known_hosts))


def _check_row(outcome):
    """A device's check row: what was learned, whether it passed, and its problem."""
    learned = outcome.result if outcome.ok else outcome.error.details
    return dict(learned, device=outcome.device, ok=outcome.ok,
                problem=None if outcome.ok else outcome.error.one_line())


@common.command
def check(device: DeviceArguments = None, tag: Tags = None, parallel: Parallel = fleet.DEFAULT_PARALLEL,
          accept_new_host_key: AcceptNewHostKey = False, as_json: JsonFlag = False):
    """Reachability, auth, Python, runtimes, free disk and RAM, agent version, per device."""
    inv = common.load_devices()
    targets = inv.select(device or [], tag or []) if (device or tag) else [d for _, d in sorted(inv.devices.items())]
    options = jobs.ConnectOptions(accept_new_host_key=accept_new_host_key)
    outcomes = fleet.run(targets, lambda target: board_check.check(target, options), parallel)
    rows = [_check_row(outcome) for outcome in outcomes]
    if not as_json:
        render.out.print(render.check_table(rows))
    errors = [outcome.error for outcome in outcomes if not outcome.ok]
    if errors:
        raise CommandFailed(errors, {"devices": rows})
    return {"devices": rows}


@common.command
def setup(device: DeviceArgument):
    """Create a venv under the device root and install the pinned runtimes into it."""
    result = board_setup.setup(common.find_device(device), log=common.log)
    for runtime, version in result["runtimes"].items():
        render.out.print("%s: %s %s ready in %s" % (device, runtime, version, result["venv"]))
    if result["note"]:
        render.out.print("note: " + result["note"])
