"""`edgeshrink sustained`: run one variant for minutes and watch heat take its toll."""

from typing import Annotated, Optional

import typer

from .. import deploy as jobs
from .. import render
from . import common
from .options import AcceptNewHostKey, DeviceName, JsonFlag, LockTimeout, ModelChoice, TimingOverrides, with_runtimes

Variant = Annotated[str, typer.Option("--variant", help="Which variant to run (a name from the recipe).")]
Duration = Annotated[float, typer.Option("--duration", min=1, max=4 * 3600, help="Seconds of continuous runs.")]
Bucket = Annotated[Optional[float], typer.Option(
    "--bucket", min=0.1, max=600, help="Seconds per row of the trace (default: duration / 60, at least 1).")]


@common.command
def sustained(choice: ModelChoice, timing: TimingOverrides, device: DeviceName, variant: Variant = "fp32",
              duration: Duration = 60.0, bucket: Bucket = None, accept_new_host_key: AcceptNewHostKey = False,
              lock_timeout: LockTimeout = 600.0, as_json: JsonFlag = False):
    """Run one variant continuously; latency, temperature, frequency and power against time."""
    target = common.find_device(device)
    settings = timing.settings_for(target)
    target = with_runtimes(target, choice.runtimes())
    source, variants = common.make_variants(choice, [target.runtimes])
    chosen = jobs.made_variant(variants, variant)
    with common.live_progress() as live:
        run = jobs.sustained(target, source, chosen, settings, duration, bucket or max(1.0, duration / 60.0), live,
                             jobs.ConnectOptions(accept_new_host_key=accept_new_host_key, lock_timeout_s=lock_timeout))
    if not as_json:
        render.sustained_view(run)
    return {"sustained": run.to_dict()}
