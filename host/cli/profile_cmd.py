"""`edgeshrink profile`: what the board is, and where each variant's time goes on it."""

from typing import Annotated

import typer

from ...shared.errors import UsageError
from .. import profiling, render
from ..profile_view import profile_view
from . import common
from .options import AcceptNewHostKey, DeviceName, JsonFlag, LockTimeout, ModelChoice, TimingOverrides, with_runtimes

Runs = Annotated[int, typer.Option("--runs", min=1, max=10000,
                                   help="Profiled runs per variant (as many again unprofiled, for the overhead).")]
Active = Annotated[bool, typer.Option("--active", help="Profile the variant installed on the device.")]


@common.command
def profile(choice: ModelChoice, timing: TimingOverrides, device: DeviceName, runs: Runs = profiling.DEFAULT_RUNS,
            active: Active = False, accept_new_host_key: AcceptNewHostKey = False, lock_timeout: LockTimeout = 600.0,
            as_json: JsonFlag = False):
    """The board's hardware inventory and each variant's time per operator (the demo's
    variants without MODEL; --active for what is installed)."""
    target = common.find_device(device)
    settings = timing.settings_for(target)
    options = profiling.ConnectOptions(accept_new_host_key=accept_new_host_key, lock_timeout_s=lock_timeout)
    if active:
        if choice.names_a_model:
            raise UsageError("--active profiles what is installed; it takes no MODEL, --torch or --recipe",
                             "drop one or the other")
        with render.LiveProgress() as live:
            report = profiling.profile_active(target, settings, runs, live, options, common.log)
    else:
        target = with_runtimes(target, choice.runtimes())
        source, variants = common.make_variants(choice, target.runtimes)
        with render.LiveProgress() as live:
            report = profiling.profile(target, source, variants, settings, runs, live, options)
    if not as_json:
        profile_view(report)
    return {"profile": report.to_dict()}
