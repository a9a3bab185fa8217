"""The ``edgeshrink`` command: parse, call the library, render.

One module per command group; each defines plain functions made into commands by
common.command, and this module names them. Command modules import common, options
and output, never this module. Exit codes and the --json contract: common.py.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import (compress_cmd, devices_cmds, history_cmd, measure_cmds, profile_cmd, regress_cmd, report_cmd,
               select_cmd, status_cmd, sustained_cmd)
from .common import state

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compress a model into variants, measure each on the board, deploy the best.")
devices_app = typer.Typer(help="Inspect the devices in devices.toml.", no_args_is_help=True,
                          pretty_exceptions_enable=False)
app.add_typer(devices_app, name="devices")

COMMANDS = (
    (app, "compress", compress_cmd.compress),
    (app, "deploy", measure_cmds.deploy),
    (app, "bench", measure_cmds.bench),
    (app, "select", select_cmd.select),
    (app, "status", status_cmd.status),
    (app, "sustained", sustained_cmd.sustained),
    (app, "profile", profile_cmd.profile),
    (app, "regress", regress_cmd.regress),
    (app, "history", history_cmd.history),
    (app, "report", report_cmd.report),
    (devices_app, "list", devices_cmds.list_devices),
    (devices_app, "trust", devices_cmds.trust),
    (devices_app, "check", devices_cmds.check),
    (devices_app, "setup", devices_cmds.setup),
)
for group, name, function in COMMANDS:
    group.command(name)(function)


@app.callback()
def global_options(
    devices: Annotated[Optional[Path], typer.Option(
        "--devices", help="devices.toml to use (default: ./devices.toml, then ~/.config/edgeshrink/devices.toml).")
    ] = None,
    db: Annotated[Optional[str], typer.Option(
        "--db", help="Results database: a SQLite file or a postgresql://USER@HOST/DB URL (default: "
                     "$EDGESHRINK_DB, else ~/.local/share/edgeshrink/results.sqlite).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
):
    state.devices_file, state.db, state.debug = devices, db, debug


def entry():
    app()
