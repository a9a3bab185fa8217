"""The report's plots, drawn with matplotlib from a stored run.

Each builder returns a Plot (a PNG and what it shows) or a Missing naming why there is
nothing to draw, so the page says "not measured: ..." instead of leaving a gap. Figures
are made with matplotlib's object API on the Agg canvas: no pyplot state, no display,
nothing read from the network (the fonts are matplotlib's own).
"""

import io
from dataclasses import dataclass
from typing import List, Optional

from .series import (LatencySeries, OperatorBars, ParetoPoint, PowerBar, PowerSeries, ThermalSeries, latency_series,
                     operator_bars, pareto_points, power_bars, power_series, thermal_series)

WIDTH_IN = 9.0
DPI = 100
OTHER_COLOUR = "#bbbbbb"
BETWEEN_COLOUR = "#eeeeee"
PROFILER_COLOUR = "#dddddd"


@dataclass
class Plot:
    name: str          # a file name stem: pareto, latency, operators, ...
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Missing:
    name: str
    title: str
    reason: str


def _figure(height_in):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure):
    buffer = io.BytesIO()
    # No timestamp or software tag: the same run draws the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def pareto(run) -> object:
    """Latency at the decision's percentile against size; accuracy (or agreement) as colour,
    infeasible variants as crosses, the Pareto front as a line, the chosen one ringed."""
    points: List[ParetoPoint] = pareto_points(run)
    title = "Latency against size"
    if len(points) < 1:
        return Missing("pareto", title, "no variant has both a latency and a size")
    figure = _figure(5.0)
    axes = figure.add_subplot()
    quality = [p.quality for p in points]
    known = [q for q in quality if q is not None]
    colour_name = points[0].quality_name
    scale = {}
    if known:
        # All alike (every variant as accurate as the original): a narrow band around it,
        # not a colour bar of rounding noise.
        low, high = min(known), max(known)
        if high - low < 0.002:
            low, high = low - 0.01, high + 0.01
        scale = dict(cmap="viridis", vmin=low, vmax=high)
    drawn = None
    for feasible, marker in ((True, "o"), (False, "X")):
        group = [p for p in points if p.feasible == feasible]
        if not group:
            continue
        with_quality = [p for p in group if p.quality is not None]
        without = [p for p in group if p.quality is None]
        if with_quality:
            drawn = axes.scatter([p.latency_ms for p in with_quality], [p.size_mb for p in with_quality],
                                 c=[p.quality for p in with_quality], marker=marker, s=70, edgecolors="black",
                                 linewidths=0.5, zorder=3, label="feasible" if feasible else "not feasible", **scale)
        if without:
            axes.scatter([p.latency_ms for p in without], [p.size_mb for p in without], c="white", marker=marker,
                         s=70, edgecolors="black", linewidths=0.8, zorder=3,
                         label=("feasible" if feasible else "not feasible") + ", quality not measured")
    front = sorted((p for p in points if p.pareto), key=lambda p: p.latency_ms)
    if len(front) > 1:
        axes.plot([p.latency_ms for p in front], [p.size_mb for p in front], color="#555555",
                  linewidth=1, linestyle="--", zorder=2, label="Pareto front")
    chosen = [p for p in points if p.chosen]
    if chosen:
        axes.scatter([chosen[0].latency_ms], [chosen[0].size_mb], s=320, facecolors="none", edgecolors="red",
                     linewidths=2, zorder=4, label="chosen: %s" % chosen[0].name)
    for p in points:
        axes.annotate(p.name, (p.latency_ms, p.size_mb), textcoords="offset points", xytext=(6, 5), fontsize=8)
    axes.set_xlabel("latency %s (ms), measured on the board" % points[0].percentile)
    axes.set_ylabel("size (MiB)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    if drawn is not None:
        from matplotlib.ticker import PercentFormatter

        figure.colorbar(drawn, ax=axes, label=colour_name, format=PercentFormatter(1.0))
    caption = ("Lower left is better. Colour: %s (%s)." % (colour_name, "white: not measured"
                                                          if len(known) < len(points) else "every variant measured")
               if known else "No variant's accuracy or agreement was measured; markers are white.")
    return Plot("pareto", title, _png(figure), caption)


def latency_distributions(run) -> object:
    """Every timed run of every variant: a box per variant (whiskers at p1 and p99)."""
    series: List[LatencySeries] = latency_series(run)
    title = "Latency per inference"
    if not series:
        return Missing("latency", title, "no variant has timed runs")
    figure = _figure(max(2.4, 0.9 + 0.45 * len(series)))
    axes = figure.add_subplot()
    axes.boxplot([s.samples_ms for s in series], orientation="horizontal", whis=(1, 99), widths=0.6,
                 flierprops={"markersize": 2, "alpha": 0.4}, medianprops={"color": "red"})
    axes.set_yticks(range(1, len(series) + 1), [s.label for s in series], fontsize=8)
    axes.invert_yaxis()   # fastest on top
    values = [v for s in series for v in s.samples_ms]
    if min(values) > 0 and max(values) / min(values) > 20:
        axes.set_xscale("log")
    axes.set_xlabel("milliseconds per inference (box: p25 to p75, red: median, whiskers: p1 and p99)")
    axes.grid(True, axis="x", alpha=0.3)
    caption = "Each box holds every timed run the board kept for that variant (%s)." % ", ".join(
        "%s: %d" % (s.name, len(s.samples_ms)) for s in series)
    return Plot("latency", title, _png(figure), caption)


def operator_breakdown(run) -> object:
    """Each variant's profiled run split by operator type, and the time between kernels."""
    bars: Optional[OperatorBars] = operator_bars(run)
    title = "Where the time goes, per operator type"
    if bars is None:
        return Missing("operators", title, "no variant has a per-operator profile")
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    figure = _figure(max(2.4, 1.4 + 0.45 * len(bars.variants)))
    axes = figure.add_subplot()
    rows = range(len(bars.variants))
    left = [0.0] * len(bars.variants)
    for index, op in enumerate(bars.ops):
        widths = [bars.ms[name].get(op, 0.0) for name in bars.variants]
        colour = {bars.OTHER: OTHER_COLOUR, bars.BETWEEN: BETWEEN_COLOUR,
                  bars.PROFILER: PROFILER_COLOUR}.get(op) or palette(index % 10)
        axes.barh(list(rows), widths, left=left, color=colour, edgecolor="white", linewidth=0.5, label=op)
        left = [a + b for a, b in zip(left, widths)]
    axes.set_yticks(list(rows), bars.variants, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("milliseconds per profiled run (mean)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    axes.grid(True, axis="x", alpha=0.3)
    caption = ("From onnxruntime's profiler, first run dropped. '%s' is the profiler's bookkeeping per node, "
               "measured on the board and taken out of the operators; '%s' is the rest of the profiled run, "
               "which no kernel accounts for. Not profiled: %s." % (
                   bars.PROFILER, bars.BETWEEN, "; ".join(bars.missing) if bars.missing else "none"))
    return Plot("operators", title, _png(figure), caption)


def thermal_traces(run) -> object:
    """The hottest zone, the lowest CPU clock and the power through each variant's timed windows."""
    heat: List[ThermalSeries] = thermal_series(run)
    watts: List[PowerSeries] = power_series(run)
    title = "Temperature, CPU clock and power while timing"
    if not heat and not watts:
        return Missing("thermal", title, "the board reported no temperature, clock or power during the timed windows")
    figure = _figure(6.5)
    temperature, clock, power_axes = figure.subplots(3, 1, sharex=True)

    def values(readings):   # a None is a break in the line (between windows, or a failed read)
        return [float("nan") if v is None else v for v in readings]

    for s in heat:
        if any(v is not None for v in s.temp_c):
            temperature.plot(s.seconds, values(s.temp_c), label=s.name, linewidth=1, marker=".", markersize=3)
        if any(v is not None for v in s.mhz):
            clock.plot(s.seconds, values(s.mhz), label=s.name, linewidth=1, marker=".", markersize=3)
    for s in watts:
        power_axes.plot(s.seconds, values(s.watts), label=s.name, linewidth=1)
    temperature.set_ylabel("hottest zone (C)")
    clock.set_ylabel("lowest CPU clock (MHz)")
    power_axes.set_ylabel("power (W)")
    power_axes.set_xlabel("seconds of timing, each variant's windows end to end (a gap between windows)")
    for axes in (temperature, clock, power_axes):
        axes.grid(True, alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=7, loc="best")
        else:
            axes.text(0.5, 0.5, "not measured on this board", ha="center", va="center", transform=axes.transAxes)
    return Plot("thermal", title, _png(figure), "Temperature and clock every 0.5 s, power at its source's own "
                                                "rate, through the timed windows (agent/power_sampler.py).")


def power(run) -> object:
    """Energy per inference, gross and net of idle, with mean power, for variants measured."""
    bars: List[PowerBar] = power_bars(run)
    title = "Energy per inference"
    if not any(b.gross_mj is not None for b in bars):
        reasons = sorted({b.missing for b in bars if b.missing})
        return Missing("power", title, "; ".join(reasons) or "no variant was measured")
    measured = [b for b in bars if b.gross_mj is not None]
    figure = _figure(max(2.4, 1.0 + 0.45 * len(measured)))
    axes = figure.add_subplot()
    rows = list(range(len(measured)))
    axes.barh([r - 0.2 for r in rows], [b.gross_mj for b in measured], height=0.4, label="gross",
              xerr=[b.uncertainty_mj or 0.0 for b in measured], color="#4c72b0")
    axes.barh([r + 0.2 for r in rows], [b.net_mj or 0.0 for b in measured], height=0.4, label="net of idle",
              color="#dd8452")
    axes.set_yticks(rows, ["%s (%.2f W)" % (b.name, b.mean_w) if b.mean_w is not None else b.name
                           for b in measured], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("millijoules per inference (source: %s)" % measured[0].source)
    axes.legend(fontsize=8)
    axes.grid(True, axis="x", alpha=0.3)
    unmeasured = [b for b in bars if b.gross_mj is None]
    caption = "Mean power over the timed windows in brackets." + (
        " Not measured: %s." % "; ".join("%s (%s)" % (b.name, b.missing) for b in unmeasured) if unmeasured else "")
    return Plot("power", title, _png(figure), caption)


def run_plots(run):
    """Every plot of one run, in the page's order."""
    return [pareto(run), latency_distributions(run), operator_breakdown(run), thermal_traces(run), power(run)]


def regress_history(keys, run_id) -> object:
    """Each variant file's nightly p50 over its runs, change points as dashed lines, this
    run ringed (host/regress/history.py finds the change points)."""
    title = "History of p50 on this device, with change points"
    drawn = [key for key in keys if any(row["p50_ms"] is not None for row in key.rows)]
    if not drawn:
        return Missing("history", title, "no stored measurement of these variants on this device")
    figure = _figure(4.5)
    axes = figure.add_subplot()
    for key in drawn:
        rows = [row for row in key.rows if row["p50_ms"] is not None]
        label = "%s (%s, %s)" % (rows[-1]["variant"], key.runtime, key.sha256[:8])
        line, = axes.plot([row["run"] for row in rows], [row["p50_ms"] for row in rows], marker=".", label=label)
        for point in key.change_points:
            axes.axvline(point["run"], color=line.get_color(), linestyle="--", linewidth=1)
        here = [row for row in rows if row["run"] == run_id]
        if here:
            axes.scatter([here[0]["run"]], [here[0]["p50_ms"]], s=150, facecolors="none", edgecolors="red",
                         linewidths=1.5, zorder=4)
    axes.set_xlabel("run #")
    axes.set_ylabel("p50 (ms)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    points = ["%s: since run #%d (%+.1f%%)" % (key.rows[-1]["variant"], p["run"], 100 * p["change"])
              for key in drawn for p in key.change_points]
    caption = "Red ring: this run. Dashed: change points found by e-divisive means. %s" % (
        "; ".join(points) if points else "No change point found.")
    return Plot("history", title, _png(figure), caption)
