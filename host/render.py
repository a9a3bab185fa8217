"""Rich views: live measurement progress, the results table, the decision, status.

Live output goes to stderr so that ``--json`` output on stdout stays machine-clean.
"""

import math
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..shared.measurement import VariantMeasurement
from ..shared.visible_text import visible

# Piped output (CI logs, files) gets a width that fits the results table, not 80 columns.
class SafeConsole(Console):
    """Every string rich renders, table cells included, passes through ``visible``: text
    from a board or a file never reaches the terminal as control sequences. (The
    colours rich adds itself are not strings and are unaffected.)"""

    def render_str(self, text, **kwargs):
        return super().render_str(visible(text, keep_newlines=True), **kwargs)


out = SafeConsole(width=None if sys.stdout.isatty() else 160)
err = SafeConsole(stderr=True, width=None if sys.stderr.isatty() else 160)


def fmt(value, pattern="%.3f", missing="-"):
    return missing if value is None else pattern % value


def pct(value):
    return fmt(None if value is None else 100 * value, "%.2f%%")


class CompressProgress:
    """One bar over the variants being made, on stderr; the compression's log lines are
    printed above it, and a training step's epochs show as the bar's status. ``quiet``
    (--json) hides the bar and keeps the log lines."""

    def __init__(self, console=err, quiet=False):
        self.console = console
        self.progress = Progress(TextColumn("[bold]compress[/] {task.description}"), BarColumn(),
                                 TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[status]}"),
                                 TimeElapsedColumn(), console=console, transient=True, disable=quiet)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def log(self, message):
        self.console.print(message, style="dim", markup=False, highlight=False)
        if self.task is not None and ": epoch " in message:   # a training step's "distill: epoch 2/3, loss ..."
            self.progress.update(self.task, status=message.split(":", 1)[1].strip())

    def on_variant(self, done, total, name):
        if self.task is None:
            self.task = self.progress.add_task("", total=total, status="")
        self.progress.update(self.task, completed=done, total=total, description=name or "done", status="")


class LiveProgress:
    """A progress bar per variant, driven by the agent's streamed events; ``quiet``
    (--json) hides the bars and keeps the one-line notices."""

    def __init__(self, console=err, quiet=False):
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.fields[device]}[/] {task.description}"),
                                 BarColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), console=console, transient=False, disable=quiet)
        self.tasks = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def _task(self, device, variant):
        key = (device, variant)
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(variant, total=100, device=device, status="queued")
        return self.tasks[key]

    def __call__(self, device, kind, data):
        if kind == "progress" and data.get("phase") == "health_check":
            self.console.print("%s: installed %s, checking that it loads and runs" % (
                escape(device), escape(str(data.get("variant")))))
        elif kind == "progress" and data.get("variant"):
            self._progress(self._task(device, escape(str(data["variant"]))), data)
        elif kind == "measurement":
            measurement = VariantMeasurement.from_dict(data)
            task = self._task(device, escape(measurement.variant))
            if measurement.ok:
                status = "p50 %s ms" % fmt(measurement.figure("p50_ms").value)
                if measurement.power.measured:
                    status += ", %s mJ/inference" % fmt(measurement.figure("energy_mj").value, "%.3g")
            else:
                status = "[red]failed[/]: " + escape(measurement.error.message[:60] if measurement.error else "")
            self.progress.update(task, completed=100, status=status)
        elif kind == "log":
            self.console.print("[dim]%s: %s[/]" % (device, escape(str(data.get("message")))))
        elif kind == "pushed":
            self.console.print("%s: pushed %d file(s), %.1f MiB sent, %.1f MiB already there"
                               % (device, data["sent"], data["bytes_sent"] / 2 ** 20,
                                  data["bytes_skipped"] / 2 ** 20))

    def _progress(self, task, data):
        """A progress event's bar position and status. The event came from a board: a
        number that is not one counts as 0, and text is escaped."""
        def number(key):
            value = data.get(key)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) else 0.0

        phase = escape(str(data.get("phase")))
        if phase == "timed" and number("max_time_s") > 0:
            done = min(90, 10 + 80 * number("elapsed_s") / number("max_time_s"))
            self.progress.update(task, completed=done, status="timed runs: %d" % number("done"))
        elif phase == "fidelity":
            self.progress.update(task, completed=92, status="fidelity on %d samples" % number("total"))
        elif phase == "profile" and number("total") > 0:
            self.progress.update(task, completed=min(95, 10 + 85 * number("done") / number("total")),
                                 status="%s runs for the operator profile" % escape(str(data.get("stage", ""))))
        elif phase == "sustained" and number("duration_s") > 0:
            self.progress.update(task, completed=min(99, 100 * number("elapsed_s") / number("duration_s")),
                                 status="sustained %.0f of %.0f s, p50 %.3f ms" % (
                                     number("elapsed_s"), number("duration_s"), number("p50_ms")))
        else:
            self.progress.update(task, completed=5 if phase == "load" else None, status=phase)


def variants_table(variants, title="Variants"):
    table = Table(title=title)
    columns = ("variant", "steps", "size MiB", "lzma MiB", "params", "MMACs", "host acc", "agree", "made in", "cached")
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "steps") else "right")
    for v in variants:
        m = v.manifest
        if not v.ok:
            table.add_row(escape(v.name), m["technique"], "[red]failed[/]", *["-"] * (len(columns) - 3))
            continue
        fidelity = m.get("host_fidelity") or {}
        table.add_row(v.name, m["technique"], "%.2f" % (m["size_bytes"] / 2 ** 20),
                      fmt(None if m.get("entropy_coded_bytes") is None else m["entropy_coded_bytes"] / 2 ** 20,
                           "%.2f"),
                      "{:,}".format(m["params"]), fmt(None if m.get("macs") is None else m["macs"] / 1e6, "%.1f"),
                      pct(fidelity.get("accuracy")),
                      pct(fidelity.get("agreement", fidelity.get("top1_agreement"))),
                      "%.1fs" % m.get("compress_seconds", 0), "yes" if v.cached else "new")
    failures = ["%s: %s" % (v.name, v.failure) for v in variants if not v.ok]
    if failures:
        table.caption = escape("failed: " + "; ".join(failures))
    return table


RESULT_FIGURES = (("p50 ms", "p50_ms", "%.3f"), ("p90 ms", "p90_ms", "%.3f"), ("p99 ms", "p99_ms", "%.3f"),
                  ("CoV", "cov", "%.2f"), ("load ms", "load_ms", "%.1f"), ("1st ms", "first_inference_ms", "%.2f"),
                  ("RSS MiB", "peak_rss_mb", "%.1f"))


def _sqnr(measurement):
    sqnr = measurement.figure("sqnr_db")
    if sqnr.known and sqnr.value == float("inf"):
        return "exact"
    return fmt(sqnr.value, "%.1f")


def _throttle_cell(measurement):
    throttled = measurement.figure("throttled")
    return "unknown" if not throttled.known else ("[red]yes[/]" if throttled.value else "no")


POWER_FIGURES = (("W", "power_w", "%.2f"), ("mJ/inf", "energy_mj", "%.3g"), ("net mJ", "net_energy_mj", "%.3g"))


def _power_caption(run_variants):
    """Why no variant has power figures (shown instead of empty columns)."""
    reasons = sorted({v.measurement.power.reason for v in run_variants if v.measurement.ok
                      and v.measurement.power.reason})
    return "power not measured: %s" % reasons[0] if reasons else None


def results_table(run_variants, decision=None, title="Measured on the device"):
    """One row per variant (host/runs.VariantResult); unknown figures show as '-'. Power
    columns appear when any variant's power was measured; otherwise the caption says why."""
    table = Table(title=title)
    power = [f for f in POWER_FIGURES] if any(v.measurement.power.measured for v in run_variants) else []
    for column in ("variant", "runtime") + tuple(c[0] for c in RESULT_FIGURES) + (
            "MiB", "acc", "agree", "SQNR dB", "throttle") + tuple(c[0] for c in power):
        table.add_column(column, justify="left" if column in ("variant", "runtime") else "right")
    if not power and _power_caption(run_variants):
        table.caption = escape(_power_caption(run_variants))
    if decision:
        table.add_column("verdict")
    for v in run_variants:
        m = v.measurement
        row = [escape(v.name), escape(_runtime_cell(v))]
        if m.ok:
            row += [fmt(m.figure(name).value, pattern) for _, name, pattern in RESULT_FIGURES]
            row += ["%.2f" % v.size_mb, pct(m.figure("accuracy").value), pct(m.figure("agreement").value),
                    _sqnr(m), _throttle_cell(m)]
            row += [fmt(m.figure(name).value, pattern) for _, name, pattern in power]
        else:
            row += ["[red]failed[/]"] + ["-"] * (len(RESULT_FIGURES) + 4 + len(power))
        if decision:
            verdict = decision.variant(v.name)
            row.append("[green]chosen[/]" if decision.chosen == v.name
                       else ("feasible" if verdict and verdict.feasible else "[red]infeasible[/]"))
        table.add_row(*row)
    return table


def _runtime_cell(result):
    """The runtime a variant ran on, and whether XNNPACK took a TFLite graph (the same
    file runs several times faster or slower with it)."""
    environment = result.measurement.environment
    runtime = environment.runtime or result.manifest.get("runtime") or "onnxruntime"
    return runtime + ("+XNNPACK" if "XNNPACK" in (environment.providers or []) else "")


def decision_view(decision, console=out):
    console.print("[bold]Objective:[/] %s" % decision.objective)
    for note in decision.notes:
        console.print("[yellow]note:[/] %s" % escape(note))
    for line in decision.missing_evidence:
        console.print("[yellow]missing evidence:[/] %s" % escape(line))
    for v in decision.variants:
        mark = "[green]✔[/]" if v.name == decision.chosen else ("·" if v.feasible else "[red]✘[/]")
        front = " [dim](Pareto front)[/]" if v.pareto else ""
        console.print(" %s [bold]%s[/]%s: %s" % (mark, escape(v.name), front, escape(v.reason)))
        if v.explanation:
            console.print("     [dim]why:[/] %s" % escape(v.explanation))
    if decision.chosen:
        console.print("[bold green]Decision:[/] %s" % escape(decision.chosen))
    else:
        console.print("[bold red]Decision:[/] no variant meets the constraints")


def install_view(outcome, device, console=out):
    if outcome.installed:
        console.print("[bold green]Installed[/] %s on %s (health check passed, load %.1f ms); previous: %s"
                      % (escape(outcome.active), device, outcome.check.get("load_ms") or 0,
                         escape(outcome.previous or "none")))
    else:
        console.print("[bold red]Rolled back[/]: %s failed its health check (%s); active: %s"
                      % (escape(outcome.attempted or "?"), escape(outcome.check_message),
                         escape(outcome.active or "none")))


def status_view(device, result, console=out):
    table = Table(title="Device %s" % device, show_header=False)
    table.add_column("key")
    table.add_column("value")
    facts = result.get("facts", {})
    manifest = result.get("manifest") or {}
    rows = [("root", result["root"]), ("active", result["active"] or "nothing installed"),
            ("technique", manifest.get("technique", "-")),
            # Deployments from before runtimes were a choice were all ONNX Runtime.
            ("runtime", manifest.get("runtime", "onnxruntime") if manifest else "-"),
            ("size MiB", "%.2f" % (manifest["size_bytes"] / 2 ** 20) if manifest.get("size_bytes") else "-"),
            ("installed at", manifest.get("installed_at", "-")),
            ("deployments", ", ".join(result.get("deployments", [])) or "-"),
            ("board", facts.get("board") or facts.get("cpu_model") or "-"),
            ("python", facts.get("python", "-")),
            ("runtimes", ", ".join("%s %s" % (n, r.get("version", "missing"))
                                   for n, r in facts.get("runtimes", {}).items())),
            ("CPU features", cpu_features_line(facts.get("cpu_features")))]
    for key, value in rows:
        table.add_row(key, escape(str(value)))   # the board's own words: never markup
    console.print(table)


def cpu_features_line(features):
    """'avx2 fma f16c; without avx512_fp16 amx_int8' (the inference-relevant ones, agent/cpu_features.py)."""
    features = features or {}
    if not features.get("present") and not features.get("absent"):
        return features.get("source") or "not reported by the agent"
    line = " ".join(features.get("present") or []) or "none of those that matter"
    if features.get("absent"):
        line += "; without " + " ".join(features["absent"])
    return line


def devices_table(inventory):
    table = Table(title="Devices in %s" % inventory.path)
    for column in ("name", "connection", "address", "runtime", "threads", "constraints", "tags"):
        table.add_column(column)
    for name, d in sorted(inventory.devices.items()):
        if d.connection == "local":
            address = "-"
        elif d.labgrid_place or d.labgrid_tags:   # the place's NetworkService has the address
            address = escape("labgrid " + (d.labgrid_place or ", ".join("%s=%s" % t for t in sorted(d.labgrid_tags.items()))))
        else:
            address = "%s%s%s" % ((d.user + "@") if d.user else "", d.host, (":%d" % d.port) if d.port else "")
        limits = ", ".join("%s=%s" % (k, v) for k, v in d.constraints.to_dict().items()
                           if v not in (None, {}) and k != "latency_percentile")
        table.add_row(name, d.connection, address, ", ".join(d.runtimes), str(d.threads), limits or "-", ", ".join(d.tags) or "-")
    return table


def fleet_table(shown):
    """One row per device of a multi-device run: chosen variant or what went wrong."""
    table = Table(title="Devices")
    for column in ("device", "run", "status", "chosen", "latency ms", "problem"):
        table.add_column(column)
    for outcome, stored in shown:
        decision = stored.decision if stored is not None else None
        chosen = decision.chosen if decision else None
        verdict = decision.variant(chosen) if chosen else None
        table.add_row(outcome.device, "#%d" % stored.run_id if stored else "-",
                      (stored.status if stored else None) or ("[red]failed[/]" if not outcome.ok else "ok"),
                      escape(chosen or "-"), fmt(verdict.latency_ms if verdict else None),
                      "" if outcome.ok else escape(outcome.error.one_line()[:80]))
    return table


def _runtime_version(probe):
    """A runtime's cell: its version (and, for TFLite, which package), 'missing', or '-'
    for an agent that did not report it."""
    if not probe:
        return "-"
    if not probe.get("version"):
        return "missing"
    return ("%s %s" % (probe["package"], probe["version"])) if probe.get("package") else probe["version"]


def check_table(rows):
    table = Table(title="Device check")
    for column in ("device", "status", "python", "onnxruntime", "tflite", "agent", "CPUs", "RAM free MiB",
                   "disk free MiB", "connection / problem"):
        table.add_column(column)
    for row in rows:
        runtimes = row.get("runtimes") or {}
        limits = row.get("limits") or {}
        cpus = row.get("cpu_count")
        if limits.get("cpu_cores"):
            cpus = "%s (cgroup %s)" % (cpus, limits["cpu_cores"])
        table.add_row(row["device"], "[green]ok[/]" if row["ok"] else "[red]failed[/]", row.get("python") or "-",
                      _runtime_version(runtimes.get("onnxruntime")), _runtime_version(runtimes.get("tflite")),
                      row.get("agent_version") or "-",
                      str(cpus or "-"), fmt(row.get("mem_available_mb"), "%.0f"),
                      fmt(row.get("disk_free_mb"), "%.0f"), row["problem"] or row.get("connection", ""))
    return table


REGRESS_STYLES = {"regression": "[bold red]regression[/]", "improvement": "[green]improvement[/]",
                  "unchanged": "unchanged", "unconfirmed": "[yellow]unconfirmed[/]"}


def regress_table(checks, title="Regression check"):
    """One row per device, variant and figure: today, the baseline, the change with its
    interval, and why (with the facts that changed beside a regression)."""
    table = Table(title=title)
    for column in ("device", "variant", "figure", "verdict", "today", "baseline", "change", "95% CI", "why"):
        table.add_column(column, justify="right" if column in ("today", "baseline", "change", "95% CI") else "left")
    for c in checks:
        change = "-" if c.ratio is None else "%+.1f%%" % (100 * (c.ratio - 1))
        interval = "-" if not c.ci else "%+.1f%% .. %+.1f%%" % (100 * (c.ci[0] - 1), 100 * (c.ci[1] - 1))
        why = c.why + ("; since %s" % c.since if c.since else "")
        if c.facts_changed:
            why += "; facts changed: " + "; ".join(c.facts_changed)
        table.add_row(escape(c.device), escape(c.variant), c.figure, REGRESS_STYLES.get(c.verdict, escape(c.verdict)),
                      fmt(c.today, "%.4g"), fmt(c.baseline, "%.4g"), change, interval, escape(why))
    return table


def history_table(keys, device):
    table = Table(title="History of %s" % escape(device))
    for column in ("variant", "runtime", "run", "date", "status", "p50 ms", "p90 ms", "RSS MiB", "acc/agree", ""):
        table.add_column(column, justify="left" if column in ("variant", "runtime", "date", "status", "") else "right")
    for key in keys:
        for row in key.rows:
            quality = row["accuracy"] if row["accuracy"] is not None else row["agreement"]
            table.add_row(escape(row["variant"]), escape("%s %s" % (row["runtime"], row["runtime_version"] or "")),
                          "#%d" % row["run"], row["date"], escape(row["status"] or "-"), fmt(row["p50_ms"], "%.4g"),
                          fmt(row["p90_ms"], "%.4g"), fmt(row["peak_rss_mb"], "%.1f"), pct(quality),
                          "[yellow]change point[/]" if row["change_point"] else "")
    return table


def regress_summary(report):
    where = "run #%d" % report.run_id
    if report.confirm_run_id is not None:
        where += ", flagged variants measured again as run #%d" % report.confirm_run_id
    if report.measured_s is not None:
        where += ", %.1f s on the board" % report.measured_s
    if report.regressions:
        return "[bold red]%s: %d regression(s)[/] (%s)" % (escape(report.device), len(report.regressions), where)
    text = "%s: no regression (%s)" % (escape(report.device), where)
    if report.unconfirmed:
        text += "; %d figure(s) flagged once and not confirmed" % len(report.unconfirmed)
    if report.improvements:
        text += "; %d improvement(s) to accept with --set-baseline" % len(report.improvements)
    if report.baseline_set:
        text += "; this run is now the baseline"
    return text


def sustained_view(run, console=out):
    """The trace of a sustained run, then what it shows: steady vs cold, when it slowed."""
    table = Table(title="%s run continuously for %.0f s" % (escape(run.variant), run.duration_s))
    for column in ("t s", "runs", "p50 ms", "p90 ms", "hottest C", "CPU MHz", "W"):
        table.add_column(column, justify="right")
    for b in run.buckets:
        table.add_row("%.1f" % b.t0_s, str(b.n), fmt(b.p50_ms), fmt(b.p90_ms), fmt(b.temp_c, "%.1f"),
                      fmt(b.cpu_mhz, "%.0f"), fmt(b.power_w, "%.2f"))
    console.print(table)
    console.print("cold p50 %s ms, steady p50 %s ms (last quarter): steady/cold %s" % (
        fmt(run.cold_p50_ms), fmt(run.steady_p50_ms), fmt(run.steady_vs_cold, "%.3f")))
    console.print("latency slowdown (>10%% over cold): %s" % (
        "from %.1f s" % run.slowdown_started_s if run.slowdown_started_s is not None else "none"))
    if run.throttling is None:
        console.print("throttling: unknown (%s)" % escape(run.throttling_reason or "no source"))
    else:
        started = (" from %.1f s" % run.throttling_started_s) if run.throttling_started_s is not None else ""
        console.print("throttling: %s%s%s" % ("yes" if run.throttling else "no", started, "".join(
            "; " + escape(line) for line in run.throttling_evidence)))
    if run.power_reason:
        console.print("power: not measured (%s)" % escape(run.power_reason))
