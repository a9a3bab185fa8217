"""Which runs a report shows, and everything drawn for each.

A report is about stored runs: one by id, or a device's latest. A regress run also
shows each of its variant files' history on that device with the change points, since
a nightly check is read against that history.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..regress.check import UNCONFIRMED_STATUS
from ..regress.history import histories
from ..regress.job import STATUS as REGRESS_STATUS
from . import plots

REGRESS_STATUSES = (REGRESS_STATUS, UNCONFIRMED_STATUS)


@dataclass
class RunSection:
    run: object
    plots: List[object] = field(default_factory=list)   # plots.Plot or plots.Missing, in page order
    history: Optional[object] = None


def section_for(run, store=None):
    """A run's plots, with its history when it is a regress run and the store is given."""
    section = RunSection(run, plots.run_plots(run))
    if store is not None and run.status in REGRESS_STATUSES:
        files = {v.manifest.get("sha256") for v in run.variants}
        keys = [key for key in histories(store, run.device, run.model_sha256) if key.sha256 in files]
        section.history = plots.regress_history(keys, run.run_id)
    return section
