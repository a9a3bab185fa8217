"""`edgeshrink deploy` and `edgeshrink bench`: compress, measure on each device, report.

Everything that can be refused without a board is refused first: the devices, their
benchmark settings with the command line's overrides, the model choice. Only then is
the model compressed (which can take minutes) and a device contacted.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import deploy as jobs
from .. import fleet
from ..report import output as report_output
from . import common, output
from .common import CommandFailed
from .options import FleetTargets, JsonFlag, ModelChoice, Objective, TimingOverrides, with_objective, with_runtimes

NoInstall = Annotated[bool, typer.Option("--no-install", help="Decide but do not install.")]
ReportFile = Annotated[Optional[Path], typer.Option(
    "--report", help="Also write the run as a self-contained HTML report (see `edgeshrink report`).")]


def _measure_each(choice, timing, targets, measure_one, objective=None):
    """``measure_one(device, settings, source, variants, live)`` on every selected device."""
    runtimes = choice.runtimes()
    devices = [with_runtimes(with_objective(d, objective), runtimes)
               for d in common.load_devices().select(targets.device or [], targets.tag or [])]
    settings = {device.name: timing.settings_for(device) for device in devices}
    source, variants = common.make_variants(choice, [d.runtimes for d in devices])
    with common.live_progress() as live:
        return fleet.run(devices, lambda device: measure_one(device, settings[device.name], source, variants, live),
                         targets.parallel)


def _write_report(outcomes, path, store):
    """The HTML report of every run the outcomes stored (a device that failed before
    storing one is left out, and the command's own error says why)."""
    runs = [run for run in (common.stored_run(output.stored_run_id(o)) for o in outcomes) if run is not None]
    if not runs:
        common.log("report not written: no run was stored")
        return
    report_output.write(runs, store, html_path=path)
    common.log("wrote %s" % path)


def _report(outcomes, as_json, with_decision):
    """Each device's stored run (or its error): the --json document, or CommandFailed."""
    shown = [(outcome, common.stored_run(output.stored_run_id(outcome))) for outcome in outcomes]
    if len(shown) == 1:
        outcome, run = shown[0]
        if run is not None and not as_json:
            output.show_run(run, outcome.device, with_decision)
        document = output.run_document(run) if run is not None else None
    else:
        if not as_json:
            output.show_fleet(shown, with_decision)
        document = output.fleet_document(shown)
    errors = [outcome.error for outcome in outcomes if not outcome.ok]
    if errors:
        raise CommandFailed(errors, document)
    return document


@common.command
def deploy(choice: ModelChoice, timing: TimingOverrides, targets: FleetTargets, no_install: NoInstall = False,
           objective: Objective = None, report: ReportFile = None, as_json: JsonFlag = False):
    """Compress, measure every variant on the device(s), choose the best, install it."""
    store, options = common.results_store(), targets.connect_options()
    if report is not None:
        report_output.check_destinations(report, option="--report")

    def deploy_one(device, settings, source, variants, live):
        return jobs.deploy(device, source, variants, settings, store, not no_install, live, options)

    outcomes = _measure_each(choice, timing, targets, deploy_one, objective)
    if report is not None:
        _write_report(outcomes, report, store)
    return _report(outcomes, as_json, with_decision=True)


@common.command
def bench(choice: ModelChoice, timing: TimingOverrides, targets: FleetTargets, as_json: JsonFlag = False):
    """Measure every variant on the device(s) and store the results (no install)."""
    store, options = common.results_store(), targets.connect_options()

    def bench_one(device, settings, source, variants, live):
        return jobs.bench(device, source, variants, settings, store, live, options)

    return _report(_measure_each(choice, timing, targets, bench_one), as_json, with_decision=False)
