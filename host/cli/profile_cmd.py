"""`edgeshrink profile`: what the board is, and where each variant's time goes on it."""

from typing import Annotated, Optional

import typer

from ...shared.errors import UsageError
from .. import profiling, render
from ..profile_view import profile_view
from . import common
from .options import AcceptNewHostKey, DeviceName, JsonFlag, LockTimeout, ModelChoice, TimingOverrides, with_runtimes

Runs = Annotated[int, typer.Option("--runs", min=1, max=10000,
                                   help="Profiled runs per variant (as many again unprofiled, for the overhead).")]
Active = Annotated[bool, typer.Option("--active", help="Profile the variant installed on the device.")]
Sustained = Annotated[Optional[float], typer.Option(
    "--sustained", min=1, max=4 * 3600,
    help="Then run one variant continuously for this many seconds: latency, temperature, clock and power against time.")]
SustainedVariant = Annotated[Optional[str], typer.Option(
    "--variant", help="The variant --sustained runs (default: fp32; with --active, the installed one).")]
Bucket = Annotated[Optional[float], typer.Option(
    "--bucket", min=0.1, max=600, help="Seconds per row of the sustained trace (default: duration / 60, at least 1).")]


@common.command
def profile(choice: ModelChoice, timing: TimingOverrides, device: DeviceName, runs: Runs = profiling.DEFAULT_RUNS,
            active: Active = False, sustained: Sustained = None, variant: SustainedVariant = None,
            bucket: Bucket = None, accept_new_host_key: AcceptNewHostKey = False, lock_timeout: LockTimeout = 600.0,
            as_json: JsonFlag = False):
    """The board's hardware inventory and each variant's time per operator (the demo's
    variants without MODEL; --active for what is installed); --sustained S then runs one
    variant for S seconds."""
    target = common.find_device(device)
    settings = timing.settings_for(target)
    options = profiling.ConnectOptions(accept_new_host_key=accept_new_host_key, lock_timeout_s=lock_timeout)
    if sustained is None and (variant is not None or bucket is not None):
        raise UsageError("--variant and --bucket go with --sustained SECONDS")
    if active and variant is not None:
        raise UsageError("--active runs the installed variant; it takes no --variant", "drop one or the other")
    ask = None if sustained is None else profiling.SustainedAsk(
        sustained, bucket or max(1.0, sustained / 60.0), None if active else (variant or "fp32"))
    if active:
        if choice.names_a_model:
            raise UsageError("--active profiles what is installed; it takes no MODEL, --torch or --recipe",
                             "drop one or the other")
        with common.live_progress() as live:
            report = profiling.profile_active(target, settings, runs, live, options, common.log, ask)
    else:
        target = with_runtimes(target, choice.runtimes())
        source, variants = common.make_variants(choice, [target.runtimes])
        if ask is not None:
            profiling.chosen_for_sustained(variants, ask)   # refused before the board spends any time
        with common.live_progress() as live:
            report = profiling.profile(target, source, variants, settings, runs, live, options, ask)
    if not as_json:
        profile_view(report)
        if report.sustained is not None:
            render.sustained_view(report.sustained)
    return {"profile": report.to_dict()}
