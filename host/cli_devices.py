"""`edgeshrink devices ...`: list, trust, check and set up the boards in devices.toml."""

from typing import List, Optional

import typer

from . import board_check, board_setup, fleet, inventory, paths, render
from . import deploy as jobs
from .cli import AcceptNewOpt, JsonOpt, ParallelOpt, TagOpt, _device, _emit_json, _log, command, devices_app, state
from .connectors import hostkeys, ssh_target


@command(devices_app, "list")
def devices_list(as_json: bool = JsonOpt):
    """List the devices in devices.toml."""
    inv = inventory.load(paths.devices_file(state.devices_file))
    if as_json:
        _emit_json({name: {"connection": d.connection, "host": d.host, "runtime": d.runtime,
                           "threads": d.threads, "tags": d.tags, "constraints": d.constraints.to_dict()}
                    for name, d in inv.devices.items()})
    else:
        render.out.print(render.devices_table(inv))


@command(devices_app, "trust")
def devices_trust(device: str = typer.Argument(..., help="Device name from devices.toml.")):
    """Record a board's SSH host key in known_hosts (refuses if a different key is recorded)."""
    target = _device(device)
    if target.connection != "ssh":
        render.out.print("%s is a %s device: it has no host key to trust" % (device, target.connection))
        return
    ssh = ssh_target.for_device(target)
    status_text, kind, print_ = hostkeys.trust(device, ssh, target.connect_timeout_s)
    render.out.print("%s: %s %s %s for %s in %s" % (device, status_text, kind, print_, ssh.key_name, ssh.known_hosts))


@command(devices_app, "check")
def devices_check(device: Optional[List[str]] = typer.Argument(None, help="Devices (default: all)."),
                  tag: Optional[List[str]] = TagOpt, parallel: int = ParallelOpt,
                  accept_new_host_key: bool = AcceptNewOpt, as_json: bool = JsonOpt):
    """Reachability, auth, Python, runtimes, free disk and RAM, agent version, per device."""
    inv = inventory.load(paths.devices_file(state.devices_file))
    targets = inv.select(device or [], tag or []) if (device or tag) else [d for _, d in sorted(inv.devices.items())]
    options = jobs.ConnectOptions(accept_new_host_key=accept_new_host_key)
    outcomes = fleet.run(targets, lambda target: board_check.check(target, options), parallel)
    rows = []
    for outcome in outcomes:
        row = outcome.result if outcome.ok else dict(getattr(outcome.error, "row", {}) or {}, device=outcome.device)
        row["ok"] = outcome.ok
        row["problem"] = None if outcome.ok else outcome.error.one_line()
        rows.append(row)
    if as_json:
        _emit_json({"devices": rows})
    else:
        render.out.print(render.check_table(rows))
    code = fleet.exit_code(outcomes)
    if code:
        raise typer.Exit(code)


@command(devices_app, "setup")
def devices_setup(device: str = typer.Argument(..., help="Device name from devices.toml.")):
    """Create a venv under the device root and install the pinned runtime into it."""
    result = board_setup.setup(_device(device), log=_log)
    render.out.print("%s: onnxruntime %s ready in %s" % (device, result["onnxruntime"], result["venv"]))
    if result["note"]:
        render.out.print("note: " + result["note"])
