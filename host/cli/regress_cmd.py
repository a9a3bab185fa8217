"""`edgeshrink regress`: measure each device now and fail when it got worse than its history.

Exit codes: 0 when nothing regressed (improvements are reported, not failed), 11
(RegressionFound) when a figure regressed, and the usual codes when the check itself
could not run (4 cannot connect, 7 the agent failed, ...): CI can tell "the board got
slower" from "the lab is down". With several devices, an infrastructure error wins,
since it leaves a board unchecked.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...shared.errors import RegressionFound
from .. import fleet, render
from ..regress import junit
from ..regress.check import WINDOW
from ..regress.job import regress as regress_job
from ..regress.job import nightly_settings, regress_active
from . import common
from .common import CommandFailed
from .options import FleetTargets, JsonFlag, ModelChoice, TimingOverrides, with_runtimes

SetBaseline = Annotated[bool, typer.Option(
    "--set-baseline", help="Accept this run as the new baseline (after an intended change).")]
Window = Annotated[Optional[int], typer.Option(
    "--window", min=1, max=365, help="Baseline nights to compare with (default: the device's, else %d)." % WINDOW)]
JunitFile = Annotated[Optional[Path], typer.Option(
    "--junit", help="Also write a JUnit XML file: one testcase per device, variant and figure.")]


@common.command
def regress(choice: ModelChoice, timing: TimingOverrides, targets: FleetTargets, set_baseline: SetBaseline = False,
            window: Window = None, junit_file: JunitFile = None, as_json: JsonFlag = False):
    """Measure now and compare every figure with the device's own history (without MODEL,
    --torch or --recipe: each device's active deployment)."""
    store, options = common.results_store(), targets.connect_options()
    runtimes = choice.runtimes()
    devices = [with_runtimes(d, runtimes) for d in common.load_devices().select(targets.device or [],
                                                                                targets.tag or [])]
    given = {name for name, value in (("min_time_s", timing.min_time), ("max_time_s", timing.max_time),
                                      ("max_runs", timing.max_runs), ("rounds", timing.rounds)) if value is not None}
    settings = {device.name: nightly_settings(timing.settings_for(device), device.regress, given)
                for device in devices}
    if not choice.names_a_model:
        choice.check()

        def check_one(device, live):   # each device's active deployment
            return regress_active(device, settings[device.name], store, set_baseline, window or WINDOW, live,
                                  options, common.log)
    else:
        source, variants = common.make_variants(choice, [d.runtimes for d in devices])

        def check_one(device, live):
            return regress_job(device, source, variants, settings[device.name], store, set_baseline,
                               window or WINDOW, live, options)
    with common.live_progress() as live:
        outcomes = fleet.run(devices, lambda device: check_one(device, live), targets.parallel)
    reports = [outcome.result for outcome in outcomes if outcome.ok]
    checks = [check for report in reports for check in report.checks]
    if junit_file is not None:
        junit.write(junit_file, checks)
    if not as_json:
        render.out.print(render.regress_table(checks))
        for report in reports:
            render.out.print(render.regress_summary(report))
    document = {"devices": [{"device": o.device, "report": o.result.to_dict() if o.ok else None,
                             "error": None if o.ok else o.error.one_line()} for o in outcomes]}
    errors = [outcome.error for outcome in outcomes if not outcome.ok]
    regressions = [check for report in reports for check in report.regressions]
    if regressions:
        errors.append(RegressionFound("%d figure(s) regressed: %s" % (len(regressions), "; ".join(
            "%s %s %s %+.1f%%" % (c.device, c.variant, c.figure, 100 * (c.ratio - 1)) for c in regressions[:5]))))
    if errors:
        raise CommandFailed(errors, document)
    return document
