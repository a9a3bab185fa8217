"""The report as one self-contained HTML file.

Everything is inside the file: styles inline, plots as base64 PNG data. A Content
Security Policy in the page itself forbids every other source, so the file cannot
make a request even if a string from a board tried to add one; and every string from a
board or a file is escaped before it is written.
"""

import base64
import html
import time
from typing import List

from ...shared.visible_text import visible
from .. import __version__
from ..profile_view import inventory_rows
from ..render import fmt, pct
from .content import RunSection
from .plots import Missing, Plot

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.chosen td { background: #e8f6e8; } tr.infeasible td { color: #777; }
.decision { padding: 0.6em 1em; border-left: 4px solid #2a7; background: #f6fbf7; }
.decision.none { border-color: #c33; background: #fdf5f5; }
.missing { color: #a60; } .why { color: #555; font-size: 0.95em; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
"""


def _text(value):
    return html.escape(visible(str(value)))


def _cell(value, numeric=False, css=""):
    classes = " ".join(c for c in ("n" if numeric else "", css) if c)
    return "<td%s>%s</td>" % (' class="%s"' % classes if classes else "", _text(value))


def _plot(item):
    if isinstance(item, Plot):
        data = base64.b64encode(item.png).decode("ascii")
        return ('<figure><h3>%s</h3><img alt="%s" src="data:image/png;base64,%s"><figcaption>%s</figcaption>'
                '</figure>' % (_text(item.title), _text(item.title), data, _text(item.caption)))
    assert isinstance(item, Missing)
    return '<h3>%s</h3><p class="missing">not measured: %s</p>' % (_text(item.title), _text(item.reason))


def _decision(run):
    decision = run.decision
    if decision is None:
        return ('<div class="decision none"><b>No decision:</b> this run was measured without one '
                '(<code>bench</code>); <code>edgeshrink select --run %s</code> decides from it.</div>'
                % _text(run.run_id))
    parts = ['<div class="decision%s">' % ("" if decision.chosen else " none")]
    parts.append("<p><b>Chosen:</b> %s</p>" % (_text(decision.chosen) if decision.chosen
                                               else "nothing: no variant meets the constraints"))
    parts.append("<p><b>Objective:</b> %s</p>" % _text(decision.objective or decision.ranked_by))
    if decision.constraints:
        parts.append("<p><b>Constraints:</b> %s</p>" % _text(", ".join(
            "%s = %s" % (k, v) for k, v in sorted(decision.constraints.items()))))
    for note in decision.notes:
        parts.append('<p class="why">note: %s</p>' % _text(note))
    for line in decision.missing_evidence:
        parts.append('<p class="missing">missing evidence: %s</p>' % _text(line))
    install = decision.install
    if install is not None:
        parts.append("<p><b>Install:</b> %s</p>" % _text(
            "installed %s" % install.active if install.installed else
            "rolled back to %s: %s" % (install.previous, install.check_message) if install.rolled_back else
            "not installed"))
    parts.append("</div>")
    return "".join(parts)


VARIANT_COLUMNS = ("variant", "runtime", "p50 ms", "latency ms", "95% CI ms", "size MiB", "peak RSS MiB",
                   "accuracy", "agreement", "mJ/inf", "throttled", "verdict", "reason and evidence")


def _variant_rows(run):
    decision = run.decision
    rows = []
    for result in run.variants:
        m = result.measurement
        verdict = decision.variant(result.name) if decision is not None else None
        runtime = m.environment.runtime or result.manifest.get("runtime") or "onnxruntime"
        state = ("chosen" if decision is not None and decision.chosen == result.name else
                 "feasible" if verdict is not None and verdict.feasible else
                 "infeasible" if verdict is not None else "measured" if m.ok else "failed")
        reason = verdict.reason if verdict is not None else (m.error.message if m.error else "")
        why = verdict.explanation if verdict is not None and verdict.explanation else ""
        latency = verdict.latency_ms if verdict is not None else None
        ci = verdict.latency_ci_ms if verdict is not None and verdict.latency_ci_ms else None
        throttled = m.figure("throttled")
        cells = [_cell(result.name), _cell(runtime),
                 _cell(fmt(m.figure("p50_ms").value), True), _cell(fmt(latency), True),
                 _cell("%.3f to %.3f" % tuple(ci) if ci else "-", True),
                 _cell(fmt(result.size_mb, "%.2f"), True), _cell(fmt(m.figure("peak_rss_mb").value, "%.1f"), True),
                 _cell(pct(m.figure("accuracy").value), True), _cell(pct(m.figure("agreement").value), True),
                 _cell(fmt(m.figure("energy_mj").value, "%.3g"), True),
                 _cell(("yes" if throttled.value else "no") if throttled.known else "unknown"),
                 _cell(state),
                 "<td>%s%s</td>" % (_text(reason), '<div class="why">why: %s</div>' % _text(why) if why else "")]
        rows.append('<tr class="%s">%s</tr>' % (state, "".join(cells)))
    percentile = decision.percentile if decision is not None else "p90"
    head = "".join("<th>%s</th>" % _text("latency ms (%s)" % percentile if c == "latency ms" else c)
                   for c in VARIANT_COLUMNS)
    return ('<table><tr>%s</tr>%s</table><p class="why">latency ms: at the decision\'s percentile (%s), with '
            'the 95%% confidence interval from the raw samples; "-": not measured.</p>'
            % (head, "".join(rows), _text(percentile)))


def _facts(run):
    rows = "".join("<tr><th>%s</th>%s</tr>" % (_text(key), _cell(value))
                   for key, value in inventory_rows(run.facts.to_dict()))
    return "<table>%s</table>" % rows


def _section(section: RunSection):
    run = section.run
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)) if run.started_at else "?"
    parts = ["<h2>Run #%s on %s</h2>" % (_text(run.run_id), _text(run.device)),
             "<p>%s, model %s (sha256 %s), %s, status %s</p>" % (
                 _text(when), _text(run.model_path), _text((run.model_sha256 or "?")[:12]),
                 _text("%d variant(s)" % len(run.variants)), _text(run.status)),
             "<h3>Decision</h3>", _decision(run), "<h3>Variants</h3>", _variant_rows(run)]
    parts += [_plot(item) for item in section.plots]
    if section.history is not None:
        parts.append(_plot(section.history))
    parts += ["<h3>The board</h3>", _facts(run)]
    return "\n".join(parts)


def render(sections: List[RunSection], generated_at=None):
    """The whole page for the given runs."""
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(generated_at or time.time()))
    title = "edgeshrink report: " + ", ".join("run #%s on %s" % (s.run.run_id, s.run.device) for s in sections)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % POLICY,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body>" % (_text(title), STYLE),
        "<h1>%s</h1><p>Written by edgeshrink %s at %s. Every figure was measured on the board; "
        "what was not measured says so.</p>" % (_text(title), _text(__version__), _text(generated)),
        *[_section(s) for s in sections], "</body></html>", ""])
