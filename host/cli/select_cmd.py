"""`edgeshrink select`: decide again from a stored run, under the device's current constraints."""

from typing import Annotated, Optional

import typer

from .. import deploy as jobs
from . import common, output
from .common import CommandFailed
from .options import DeviceName, JsonFlag, Objective, with_objective

RunId = Annotated[Optional[int], typer.Option("--run", help="Stored run id (default: the device's latest).")]


@common.command
def select(device: DeviceName, run: RunId = None, objective: Objective = None, as_json: JsonFlag = False):
    """Decide again from stored results, under the device's current constraints."""
    target = with_objective(common.find_device(device), objective)
    stored, decision = jobs.reselect(common.results_store(), target, run)
    if not as_json:
        output.show_selection(stored, decision, target.name)
    document = output.selection_document(stored, decision)
    error = output.nothing_chosen(stored, decision, target.name)
    if error is not None:
        raise CommandFailed([error], document)
    return document
