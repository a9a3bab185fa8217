"""`edgeshrink history`: the stored runs of a device per variant file, with change points."""

import csv
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ...shared.errors import UsageError
from .. import modelinfo, render
from ..regress.history import COLUMNS, histories
from . import common
from .options import DeviceName, JsonFlag

ModelFile = Annotated[Optional[Path], typer.Option("--model", help="Only the variants of this model file.")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print every row as CSV on stdout.")]


@common.command
def history(device: DeviceName, model: ModelFile = None, as_csv: CsvFlag = False, as_json: JsonFlag = False):
    """List a device's stored measurements per variant file, with the change points found."""
    if as_csv and as_json:
        raise UsageError("give --csv or --json, not both")
    common.find_device(device)
    model_sha = None
    if model is not None:
        if not model.is_file():
            raise UsageError("--model %s: no such file" % model)
        model_sha = modelinfo.sha256_file(model)
    keys = histories(common.results_store(), device, model_sha)
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS)
        writer.writeheader()
        for key in keys:
            writer.writerows(key.rows)
        return None
    if not as_json:
        render.out.print(render.history_table(keys, device))
    return {"device": device, "keys": [key.to_dict() for key in keys]}
