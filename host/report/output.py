"""Writing a report: the HTML page and, when asked, each plot as a PNG file.

Every file is written whole or not at all (host/files.py). matplotlib is the
`report` extra; without it the command says how to install it and writes nothing.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from ...shared.errors import UsageError
from ..files import write_atomically
from .plots import Plot

INSTALL_HINT = "pip install 'edgeshrink[report]' (matplotlib, about 30 MB)"


@dataclass
class Written:
    paths: List[Path] = field(default_factory=list)
    not_drawn: List[str] = field(default_factory=list)   # "title: why", plots with nothing measured to draw

    def to_dict(self):
        return {"written": [str(p) for p in self.paths], "not_drawn": self.not_drawn}


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError("the report draws its plots with matplotlib (%s)" % exc, INSTALL_HINT) from None


def check_destinations(html_path=None, png_dir=None, option="-o"):
    """Refuse up front what would fail later (after a long deploy, or after reading the
    store): no matplotlib, a missing folder for the page, a --png folder that is not there."""
    require_matplotlib()
    if html_path is not None:
        folder = Path(html_path).resolve().parent
        if not folder.is_dir():
            raise UsageError("%s %s: the folder %s does not exist" % (option, html_path, folder), "create it first")
    if png_dir is not None and not Path(png_dir).is_dir():
        raise UsageError("--png %s: no such folder" % png_dir, "create it first")


def sections_for(runs, store=None):
    """The page's sections for ``runs``; the store adds a regress run's history."""
    require_matplotlib()
    from .content import section_for

    return [section_for(run, store) for run in runs]


def write(runs, store=None, html_path=None, png_dir=None):
    """Write the report of ``runs`` to ``html_path`` and/or their plots into ``png_dir``."""
    from . import page

    check_destinations(html_path, png_dir)
    sections = sections_for(runs, store)
    text = page.render(sections) if html_path is not None else None   # made before anything is written
    written = Written()
    for section in sections:
        items = section.plots + ([section.history] if section.history is not None else [])
        written.not_drawn += ["run #%s %s: %s" % (section.run.run_id, item.title, item.reason)
                              for item in items if not isinstance(item, Plot)]
        if png_dir is not None:
            for item in items:
                if isinstance(item, Plot):
                    path = Path(png_dir) / ("run%s-%s.png" % (section.run.run_id, item.name))
                    write_atomically(path, item.png, prefix=".report-")
                    written.paths.append(path)
    if html_path is not None:
        write_atomically(html_path, text, prefix=".report-")
        written.paths.append(Path(html_path))
    return written
