"""Rich views: live measurement progress, the results table, the decision, status.

Live output goes to stderr so that ``--json`` output on stdout stays machine-clean.
"""

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Piped output (CI logs, files) gets a width that fits the results table, not 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _fmt(value, pattern="%.3f", missing="-"):
    return missing if value is None else pattern % value


def _pct(value):
    return _fmt(None if value is None else 100 * value, "%.2f%%")


class LiveProgress:
    """A progress bar per variant, driven by the agent's streamed events."""

    def __init__(self, console=err):
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.fields[device]}[/] {task.description}"),
                                 BarColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), console=console, transient=False)
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
            self.console.print("%s: installed %s, checking that it loads and runs" % (device, data["variant"]))
        elif kind == "progress" and data.get("variant"):
            task = self._task(device, data["variant"])
            phase = data.get("phase")
            if phase == "timed" and data.get("max_time_s"):
                done = min(90, 10 + 80 * data.get("elapsed_s", 0) / max(data["max_time_s"], 1e-9))
                self.progress.update(task, completed=done, status="timed runs: %d" % data.get("done", 0))
            elif phase == "fidelity":
                self.progress.update(task, completed=92, status="fidelity on %d samples" % data.get("total", 0))
            else:
                self.progress.update(task, completed=5 if phase == "load" else None, status=phase)
        elif kind == "measurement":
            task = self._task(device, data["variant"])
            if data.get("ok"):
                lat = data["latency_pass"]["latency"]
                status = "p50 %s ms" % _fmt(lat.get("p50_ms"))
            else:
                status = "[red]failed[/]: " + data["error"]["message"][:60]
            self.progress.update(task, completed=100, status=status)
        elif kind == "log":
            self.console.print("[dim]%s: %s[/]" % (device, data.get("message")))
        elif kind == "pushed":
            self.console.print("%s: pushed %d file(s), %.1f MiB sent, %.1f MiB already there"
                               % (device, data["sent"], data["bytes_sent"] / 2 ** 20,
                                  data["bytes_skipped"] / 2 ** 20))


def variants_table(variants, title="Variants"):
    table = Table(title=title)
    columns = ("variant", "steps", "size MiB", "lzma MiB", "params", "MMACs", "host acc", "agree", "made in", "cached")
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "steps") else "right")
    for v in variants:
        m = v.manifest
        fidelity = m.get("host_fidelity") or {}
        table.add_row(v.name, m["technique"], "%.2f" % (m["size_bytes"] / 2 ** 20),
                      _fmt(None if m.get("entropy_coded_bytes") is None else m["entropy_coded_bytes"] / 2 ** 20,
                           "%.2f"),
                      "{:,}".format(m["params"]), _fmt(None if m.get("macs") is None else m["macs"] / 1e6, "%.1f"),
                      _pct(fidelity.get("accuracy")), _pct(fidelity.get("top1_agreement")),
                      "%.1fs" % m.get("compress_seconds", 0), "yes" if v.cached else "new")
    return table


def results_table(run_variants, decision=None, title="Measured on the device"):
    by_name = {v["name"]: v for v in (decision or {}).get("variants", [])}
    table = Table(title=title)
    for column in ("variant", "p50 ms", "p90 ms", "p99 ms", "CoV", "load ms", "1st ms",
                   "RSS MiB", "MiB", "acc", "agree", "SQNR dB", "throttle"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    if decision:
        table.add_column("verdict")
    for v in run_variants:
        m = v["measurement"]
        row = [v["name"]]
        if m.get("ok"):
            lp = m["latency_pass"]
            lat, fid = lp["latency"], lp.get("fidelity", {})
            sqnr = "exact" if fid.get("identical") else _fmt(fid.get("sqnr_db"), "%.1f")
            throttled = m.get("thermal", {}).get("verdict", {}).get("throttled")
            row += [_fmt(lat.get("p50_ms")), _fmt(lat.get("p90_ms")), _fmt(lat.get("p99_ms")),
                    _fmt(lat.get("cov"), "%.2f"), _fmt(lp.get("load_ms"), "%.1f"),
                    _fmt(lp.get("first_inference_ms"), "%.2f"), _fmt(m["memory"].get("peak_rss_mb"), "%.1f"),
                    "%.2f" % (v["manifest"]["size_bytes"] / 2 ** 20), _pct(fid.get("accuracy")),
                    _pct(fid.get("top1_agreement")), sqnr,
                    "unknown" if throttled is None else ("[red]yes[/]" if throttled else "no")]
        else:
            row += ["[red]failed[/]"] + ["-"] * 11
        if decision:
            c = by_name.get(v["name"], {})
            row.append("[green]chosen[/]" if decision.get("chosen") == v["name"]
                       else ("feasible" if c.get("feasible") else "[red]infeasible[/]"))
        table.add_row(*row)
    return table


def decision_view(decision, console=out):
    console.print("[bold]Objective:[/] %s" % decision["objective"])
    for note in decision.get("notes", []):
        console.print("[yellow]note:[/] %s" % note)
    for c in decision["variants"]:
        mark = "[green]✔[/]" if c["name"] == decision["chosen"] else ("·" if c["feasible"] else "[red]✘[/]")
        front = " [dim](Pareto front)[/]" if c.get("pareto") else ""
        console.print(" %s [bold]%s[/]%s: %s" % (mark, c["name"], front, c["reason"]))
    if decision["chosen"]:
        console.print("[bold green]Decision:[/] %s" % decision["chosen"])
    else:
        console.print("[bold red]Decision:[/] no variant meets the constraints")


def install_view(result, device, console=out):
    if result["installed"]:
        console.print("[bold green]Installed[/] %s on %s (health check passed, load %.1f ms); previous: %s"
                      % (result["active"], device, result["check"].get("load_ms", 0), result["previous"] or "none"))
    else:
        console.print("[bold red]Rolled back[/]: %s failed its health check (%s); active: %s"
                      % (result["attempted"], result["check"].get("message"), result["active"] or "none"))


def status_view(device, result, console=out):
    table = Table(title="Device %s" % device, show_header=False)
    table.add_column("key")
    table.add_column("value")
    facts = result.get("facts", {})
    manifest = result.get("manifest") or {}
    rows = [("root", result["root"]), ("active", result["active"] or "nothing installed"),
            ("technique", manifest.get("technique", "-")),
            ("size MiB", "%.2f" % (manifest["size_bytes"] / 2 ** 20) if manifest.get("size_bytes") else "-"),
            ("installed at", manifest.get("installed_at", "-")),
            ("deployments", ", ".join(result.get("deployments", [])) or "-"),
            ("board", facts.get("board") or facts.get("cpu_model") or "-"),
            ("python", facts.get("python", "-")),
            ("runtimes", ", ".join("%s %s" % (n, r.get("version", "missing"))
                                   for n, r in facts.get("runtimes", {}).items()))]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)


def devices_table(inventory):
    table = Table(title="Devices in %s" % inventory.path)
    for column in ("name", "connection", "address", "runtime", "threads", "constraints", "tags"):
        table.add_column(column)
    for name, d in sorted(inventory.devices.items()):
        address = "-" if d.connection == "local" else "%s%s%s" % (
            (d.user + "@") if d.user else "", d.host, (":%d" % d.port) if d.port else "")
        limits = ", ".join("%s=%s" % (k, v) for k, v in d.constraints.to_dict().items()
                           if v not in (None, {}) and k != "latency_percentile")
        table.add_row(name, d.connection, address, d.runtime, str(d.threads), limits or "-", ", ".join(d.tags) or "-")
    return table


def fleet_table(shown):
    """One row per device of a multi-device run: chosen variant or what went wrong."""
    table = Table(title="Devices")
    for column in ("device", "run", "status", "chosen", "latency ms", "problem"):
        table.add_column(column)
    for outcome, stored in shown:
        decision = (stored or {}).get("decision") or {}
        chosen = decision.get("chosen")
        latency = next((v.get("latency_ms") for v in decision.get("variants", []) if v["name"] == chosen), None)
        table.add_row(outcome.device, "#%d" % stored["id"] if stored else "-",
                      (stored or {}).get("status") or ("[red]failed[/]" if not outcome.ok else "ok"),
                      chosen or "-", _fmt(latency), "" if outcome.ok else outcome.error.one_line()[:80])
    return table


def check_table(rows):
    table = Table(title="Device check")
    for column in ("device", "status", "python", "onnxruntime", "agent", "CPUs", "RAM free MiB",
                   "disk free MiB", "connection / problem"):
        table.add_column(column)
    for row in rows:
        runtime = (row.get("runtimes") or {}).get("onnxruntime") or {}
        limits = row.get("limits") or {}
        cpus = row.get("cpu_count")
        if limits.get("cpu_cores"):
            cpus = "%s (cgroup %s)" % (cpus, limits["cpu_cores"])
        table.add_row(row["device"], "[green]ok[/]" if row["ok"] else "[red]failed[/]", row.get("python") or "-",
                      runtime.get("version") or ("missing" if runtime else "-"), row.get("agent_version") or "-",
                      str(cpus or "-"), _fmt(row.get("mem_available_mb"), "%.0f"),
                      _fmt(row.get("disk_free_mb"), "%.0f"), row["problem"] or row.get("connection", ""))
    return table
