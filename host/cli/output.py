"""Stored runs and decisions as the CLI shows them: tables for people, documents for --json.

The one module of the CLI that reads a run's or a decision's fields (host/runs.Run,
shared/decision.Decision); the commands pass them through.
"""

from ...shared.errors import ConstraintError, to_dict
from .. import render


def run_document(run):
    return run.to_dict()


def show_run(run, device_name, with_decision):
    decision = run.decision if with_decision else None
    render.out.print(render.results_table(run.variants, decision, "Run #%d on %s" % (run.run_id, device_name)))
    if decision:
        render.decision_view(decision)
        if decision.install:
            render.install_view(decision.install, device_name)


def stored_run_id(outcome):
    """The id of the run a device's outcome stored, if it stored one (on failure too)."""
    return outcome.result.run_id if outcome.ok else outcome.error.run_id


def show_fleet(shown, with_decision):
    """``shown``: (fleet outcome, its stored run or None) per device."""
    for outcome, run in shown:
        if run is not None:
            show_run(run, outcome.device, with_decision)
    render.out.print(render.fleet_table(shown))


def fleet_document(shown):
    return {"devices": [{"device": outcome.device, "run": run_document(run) if run is not None else None,
                         "error": None if outcome.ok else to_dict(outcome.error)} for outcome, run in shown]}


def show_selection(run, decision, device_name):
    render.out.print(render.results_table(run.variants, decision, "Run #%d on %s" % (run.run_id, device_name)))
    render.decision_view(decision)


def selection_document(run, decision):
    return {"run": run.run_id, "decision": decision.to_dict()}


def nothing_chosen(run, decision, device_name):
    """The error for a decision that chose nothing; None when it chose a variant."""
    if decision.chosen is not None:
        return None
    return ConstraintError("device '%s': no variant of run #%d meets the constraints" % (device_name, run.run_id),
                           run_id=run.run_id)
