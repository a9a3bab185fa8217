"""`edgeshrink report`: a stored run as one self-contained HTML file, or its plots as PNGs."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...shared.errors import UsageError
from ..report import output as report_output
from . import common
from .options import JsonFlag

RunId = Annotated[Optional[int], typer.Option("--run", help="Stored run id.")]
Device = Annotated[Optional[str], typer.Option("--device", "-d", help="The device whose latest run to show.")]
Last = Annotated[bool, typer.Option("--last", help="The device's latest run (the default with -d).")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="The HTML file to write.")]
PngDir = Annotated[Optional[Path], typer.Option("--png", help="Also write each plot as a PNG file in this folder.")]


@common.command
def report(run: RunId = None, device: Device = None, last: Last = False, output: Output = None,
           png: PngDir = None, as_json: JsonFlag = False):
    """Write a stored run as one HTML file: decision, variants, plots, history."""
    if (run is None) == (device is None):
        raise UsageError("give --run ID or -d DEVICE (its latest run), not %s" % ("both" if run is not None
                                                                                   else "neither"))
    if last and device is None:
        raise UsageError("--last goes with -d DEVICE")
    if output is None and png is None:
        raise UsageError("give -o FILE.html, --png DIR, or both")
    report_output.check_destinations(output, png)
    store = common.results_store()
    stored = store.load_run(run_id=run, device=device)
    written = report_output.write([stored], store, html_path=output, png_dir=png)
    if not as_json:
        for path in written.paths:
            common.log("wrote %s" % path)
    return written.to_dict()
