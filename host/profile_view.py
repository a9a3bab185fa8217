"""How `edgeshrink profile` prints: the board's inventory, then each variant's operators.

Everything here came from a board, so every string is escaped before rich sees it.
"""

from rich.markup import escape
from rich.table import Table

from .render import cpu_features_line, fmt, out

TOP_OPERATORS = 8


def _cpu_list(cpus):
    """[0, 1, 2, 3, 6] -> '0-3,6'."""
    spans, cpus = [], sorted(c for c in cpus if isinstance(c, int))
    for cpu in cpus:
        if spans and cpu == spans[-1][1] + 1:
            spans[-1][1] = cpu
        else:
            spans.append([cpu, cpu])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in spans)


def _share(fraction):
    return fmt(None if fraction is None else 100 * fraction, "%.1f%%")


def inventory_rows(facts):
    """(key, value) pairs of what the board is, from its facts."""
    limits = facts.get("limits") or {}
    cores = "%s" % (facts.get("cpu_count") or "?")
    if limits.get("cpu_cores"):
        cores += " (cgroup limit %s)" % limits["cpu_cores"]
    thermal = facts.get("thermal") or {}
    frequencies = thermal.get("cpufreq_khz") or {}
    # Policies with the same hardware ceiling are one cluster (big.LITTLE boards have two or three).
    clusters = {}
    for name, reading in frequencies.items():
        ceiling = reading.get("hw_max") or reading.get("max")
        if ceiling:
            clusters.setdefault(ceiling, []).append(name)
    power = facts.get("power") or {}
    runtimes = facts.get("runtimes") or {}
    return [
        ("board", facts.get("board") or "-"),
        ("CPU", "%s, %s, %s cores" % (facts.get("cpu_model") or "?", facts.get("machine") or "?", cores)),
        ("core kinds", " + ".join("%d x %s (cpu %s)" % (len(kind.get("cpus") or []), kind.get("part"), _cpu_list(
            kind.get("cpus") or [])) for kind in facts.get("core_kinds") or [] if isinstance(kind, dict))
         or "not named by the kernel (x86, or no CPU part lines)"),
        ("CPU features", cpu_features_line(facts.get("cpu_features"))),
        ("clock clusters", ", ".join("%d x %.0f MHz" % (len(names), ceiling / 1000.0)
                                     for ceiling, names in sorted(clusters.items()))
         or "not reported (no cpufreq on this board)"),
        ("governors", ", ".join(facts.get("governors") or []) or "none reported"),
        ("memory", "%s MiB, %s MiB available%s" % (
            fmt(facts.get("mem_total_mb"), "%.0f"), fmt(facts.get("mem_available_mb"), "%.0f"),
            " (cgroup limit %s MiB)" % limits["memory_mb"] if limits.get("memory_mb") else "")),
        ("runtimes", ", ".join("%s %s%s" % (name, probe.get("version") or "missing",
                                            " (%s)" % ", ".join(probe["providers"]) if probe.get("providers") else "")
                               for name, probe in runtimes.items()) or "none"),
        ("thermal zones", ", ".join("%s %.1f C" % (name, temp) for name, temp in
                                    sorted((thermal.get("temperatures_c") or {}).items())) or "none readable"),
        ("power source", ("%s (%s)" % (power.get("source"), power.get("rail") or "input"))
         if power.get("source") else "none: %s" % (power.get("reason") or "not reported")),
        ("python", "%s at %s" % (facts.get("python") or "?", facts.get("python_executable") or "?")),
    ]


def coverage_lines(profile):
    """How much of a run the operators account for, with the profiler's own cost taken
    out when the board measured it, and the raw figures beside."""
    cost = profile.profiler_cost
    kept = "%d runs, the first dropped" % profile.runs
    unprofiled = "%s of the same runs unprofiled (mean %s ms)" % (
        _share(profile.unprofiled_coverage), fmt(profile.plain_mean_ms, "%.4f"))
    raw = "%s ms, %s of the mean profiled run (%s ms); %s us per node between kernels over %s nodes a run" % (
        fmt(profile.raw_op_sum_ms, "%.4f"), _share(profile.raw_coverage), fmt(profile.mean_run_ms, "%.4f"),
        fmt(profile.between_per_node_us, "%.1f"), fmt(profile.nodes_per_run, "%.0f"))
    if cost is None:
        return ["operators: %s ms per run as the profiler timed them, %s of the mean profiled run (%s ms) and %s; "
                "%s" % (fmt(profile.op_sum_ms, "%.4f"), _share(profile.coverage), fmt(profile.mean_run_ms, "%.4f"),
                        unprofiled, kept),
                "the profiler's own cost per node was not measured (%s): it is inside these times, and most "
                "of the %s us per node between kernels" % (profile.profiler_cost_reason or "not reported",
                                                           fmt(profile.between_per_node_us, "%.1f"))]
    return ["operators: %s ms per run, %s of the profiled run less the profiler's own cost (%s ms) and %s; %s" % (
                fmt(profile.op_sum_ms, "%.4f"), _share(profile.coverage), fmt(profile.run_less_profiler_ms, "%.4f"),
                unprofiled, kept),
            "the profiler's own cost, measured on this board with chains of %s do-nothing nodes (%d runs): %s us "
            "per node, %s us (+/- %s) of it inside each kernel event; taken out of the times above" % (
                " and ".join(str(n) for n in cost.chain_nodes), cost.runs, fmt(cost.per_node_us, "%.2f"),
                fmt(cost.in_kernel_us, "%.2f"), fmt(cost.in_kernel_uncertainty_us, "%.2f")),
            "as the profiler timed them: operators %s" % raw]


def profile_view(report, console=out):
    table = Table(title="Device %s" % escape(report.device), show_header=False)
    table.add_column("key")
    table.add_column("value")
    for key, value in inventory_rows(report.facts):
        table.add_row(key, escape(str(value)))
    console.print(table)
    for variant in report.variants:
        title = "%s (%s, %s)" % (variant.name, variant.technique, variant.runtime)
        profile = variant.profile
        if variant.error or profile is None:
            console.print("%s: not profiled: %s" % (escape(title), escape(variant.error or "no profile")))
            continue
        if not profile.available:
            console.print("%s: per-operator profile not available: %s" % (escape(title), escape(profile.reason or "?")))
            continue
        operators = Table(title=escape(title))
        for column in ("operator", "nodes", "ms per run", "share", "input types"):
            operators.add_column(column, justify="left" if column in ("operator", "input types") else "right")
        for row in profile.by_op_type[:TOP_OPERATORS]:
            # The element types its kernels ran on: an fp16 model's Conv on float means the
            # runtime converted back to float32 around it.
            operators.add_row(escape(row.op), str(row.nodes), "%.4f" % row.ms_per_run, _share(row.share),
                              escape(", ".join(row.input_types)) if row.input_types else "-")
        rest = profile.by_op_type[TOP_OPERATORS:]
        if rest:
            operators.add_row("%d others" % len(rest), str(sum(r.nodes for r in rest)),
                              "%.4f" % sum(r.ms_per_run for r in rest), "", "")
        console.print(operators)
        for line in coverage_lines(profile):
            console.print("  " + escape(line))
        console.print("  profiler overhead: p50 %s ms profiled vs %s ms plain (x%s)" % (
            fmt(profile.profiled_p50_ms), fmt(profile.plain_p50_ms), fmt(profile.overhead, "%.3f")))
