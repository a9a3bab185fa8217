"""`edgeshrink report`: what its plots take from a run, the page's safety, the command's
refusals, and a real deploy's report opened in a real headless Chromium."""

import io
import json

import pytest

from edgeshrink.host.report import page, series
from edgeshrink.host.report.content import section_for
from edgeshrink.host.report.plots import Missing, Plot
from edgeshrink.host.runs import Run, VariantResult
from edgeshrink.host.store import ResultsStore
from edgeshrink.shared.decision import CandidateVerdict, Decision
from edgeshrink.shared.device_facts import DeviceFacts
from edgeshrink.shared.measurement import (Fidelity, LatencyPass, LatencyStats, MemoryPass, Power, Thermal,
                                           VariantError, VariantMeasurement)
from edgeshrink.shared.op_profile import OperatorProfile, OperatorTime

from .browser import Chromium, find_chromium
from .conftest import FAST_FLAGS, REPO, cli

HOSTILE = '<img src="http://evil.example/x.png"><script>alert(1)</script>'


def _measured(name, p50, ops, thermal_rows=(), power=None, accuracy=0.95):
    samples = [p50 * (0.9 + 0.01 * (i % 20)) for i in range(60)]
    return VariantMeasurement(
        variant=name, ok=True, memory=MemoryPass(peak_rss_mb=80.0),
        latency_pass=LatencyPass(latency=LatencyStats(n=60, p50_ms=p50, p90_ms=1.1 * p50), samples_ms=samples,
                                 fidelity=Fidelity(measured=True, samples=10, accuracy=accuracy, agreement=0.98)),
        thermal=Thermal(trace=[list(row) for row in thermal_rows]),
        power=power or Power(measured=False, reason="no power source on this board"),
        operators=OperatorProfile(available=True, runs=29, mean_run_ms=sum(ops.values()) + 0.1,
                                  op_sum_ms=sum(ops.values()),
                                  by_op_type=[OperatorTime(op, ms, 1, None) for op, ms in
                                              sorted(ops.items(), key=lambda item: -item[1])]))


def _run():
    """Three measured variants, one that failed on the board, and a decision with a
    hostile reason string (text from a board reaches the page escaped or not at all)."""
    rows_fp32 = [[0, -0.4, 50.0, 1500.0], [0, 0.1, 51.0, 1500.0], [0, 0.6, 52.0, 1400.0],
                 [1, -0.3, 52.0, 1400.0], [1, 0.2, 53.0, 1300.0]]
    variants = [
        VariantResult("fp32", {"size_bytes": 4 << 20, "sha256": "a" * 64},
                      _measured("fp32", 2.0, {"Conv": 1.5, "Relu": 0.2, "Gemm": 0.1}, rows_fp32,
                                Power(measured=True, reason=None, source="rapl", rail="package-0", where="board",
                                      mean_w=5.0, energy_per_inference_mj=10.0, net_energy_per_inference_mj=4.0,
                                      trace=[[0, 0.0, 5.0], [0, 0.5, 5.2], [1, 0.0, 5.1], [1, 0.4, 4.9]]))),
        VariantResult("int8", {"size_bytes": 1 << 20, "sha256": "b" * 64},
                      _measured("int8", 1.0, {"QLinearConv": 0.6, "QuantizeLinear": 0.1, "DequantizeLinear": 0.1,
                                              "Relu": 0.05, "Cast": 0.02, "Transpose": 0.01, "Gemm": 0.01})),
        VariantResult("fp16", {"size_bytes": 2 << 20, "sha256": "c" * 64},
                      _measured("fp16", 2.5, {"Conv": 1.8, "Cast": 0.4}, accuracy=None)),
        VariantResult("broken", {"size_bytes": 3 << 20, "sha256": "d" * 64},
                      VariantMeasurement(variant="broken", ok=False, error=VariantError(message="session failed: " + HOSTILE))),
    ]
    verdicts = [CandidateVerdict(name="fp32", ok=True, feasible=True, pareto=True, latency_ms=2.2, size_mb=4.0,
                                 accuracy=0.95, reason="feasible, but slower", explanation="the baseline"),
                CandidateVerdict(name="int8", ok=True, feasible=True, pareto=True, latency_ms=1.1, size_mb=1.0,
                                 accuracy=0.95, latency_ci_ms=[1.05, 1.15], reason="fastest feasible",
                                 explanation="QLinearConv is 67% of its operator time"),
                CandidateVerdict(name="fp16", ok=True, feasible=False, latency_ms=2.75, size_mb=2.0,
                                 reason="infeasible: " + HOSTILE),
                CandidateVerdict(name="broken", ok=False, reason="failed on the board")]
    decision = Decision(chosen="int8", percentile="p90", objective="latency at p90", variants=verdicts,
                        notes=["a note " + HOSTILE])
    return Run(device="pi4", started_at=1.7e9, model_path="/models/" + HOSTILE, model_sha256="e" * 64, settings={},
               constraints={}, facts=DeviceFacts.from_dict({"cpu_model": HOSTILE, "machine": "aarch64"}),
               variants=variants, decision=decision, run_id=7, status="deployed")


def test_pareto_points_follow_the_decision_and_keep_unmeasured_quality_unknown():
    points = {p.name: p for p in series.pareto_points(_run())}
    assert set(points) == {"fp32", "int8", "fp16"}      # the failed variant has nothing to place
    assert points["int8"].chosen and not points["fp32"].chosen
    assert points["int8"].latency_ms == 1.1 and points["int8"].percentile == "p90"
    assert points["fp16"].quality is None and not points["fp16"].feasible
    assert points["fp32"].quality_name == "accuracy"


def test_a_bench_run_without_a_decision_places_each_variant_at_its_p50():
    run = _run()
    run.decision = None
    points = {p.name: p for p in series.pareto_points(run)}
    assert points["fp32"].latency_ms == 2.0 and points["fp32"].percentile == "p50"
    assert not any(p.chosen for p in points.values())


def test_operator_bars_fold_the_small_types_and_show_the_time_between_kernels():
    run = _run()
    bars = series.operator_bars(run)
    assert bars.variants == ["fp32", "int8", "fp16"]
    assert len([op for op in bars.ops if op not in (bars.OTHER, bars.BETWEEN, bars.PROFILER)]) == \
        series.TOP_OPERATOR_TYPES
    for name in bars.variants:
        segments, profile = bars.ms[name], run.variant(name).measurement.operators
        assert abs(segments[bars.BETWEEN] - 0.1) < 1e-9
        # Nothing lost or counted twice: the segments make up the mean profiled run.
        assert abs(sum(segments.values()) - profile.mean_run_ms) < 1e-9, segments
    assert bars.ms["int8"][bars.OTHER] > 0       # Transpose or Gemm fell outside the top types
    assert bars.PROFILER not in bars.ops         # no board measured its profiler's cost


def test_operator_bars_show_the_profilers_own_cost_where_the_board_measured_it():
    run = _run()
    profile = run.variant("fp32").measurement.operators
    profile.mean_run_ms, profile.run_less_profiler_ms = 2.0, 1.85      # the operators: 1.8 ms
    bars = series.operator_bars(run)
    assert bars.ops[-1] == bars.PROFILER
    segments = bars.ms["fp32"]
    assert abs(segments[bars.PROFILER] - 0.15) < 1e-9 and abs(segments[bars.BETWEEN] - 0.05) < 1e-9
    assert abs(sum(segments.values()) - 2.0) < 1e-9
    assert bars.PROFILER not in bars.ms["int8"]
    assert bars.missing and bars.missing[0].startswith("broken: ")


def test_trace_windows_are_laid_end_to_end_and_power_keeps_the_reason_it_is_missing():
    (fp32,) = series.thermal_series(_run())
    # The second window starts half a second after the first ends, with a break between.
    assert [round(t, 6) for t in fp32.seconds] == [-0.4, 0.1, 0.6, 0.6, 1.1, 1.6]
    assert fp32.temp_c == [50.0, 51.0, 52.0, None, 52.0, 53.0] and fp32.mhz[-1] == 1300.0
    (watts,) = series.power_series(_run())
    assert watts.name == "fp32" and watts.seconds == [0.0, 0.5, 0.5, 1.0, 1.4] and watts.watts[2] is None
    bars = {b.name: b for b in series.power_bars(_run())}
    assert bars["fp32"].gross_mj == 10.0 and bars["fp32"].net_mj == 4.0 and "rapl" in bars["fp32"].source
    assert bars["int8"].gross_mj is None and bars["int8"].missing == "no power source on this board"


def test_every_plot_of_a_run_is_a_png_or_says_why_not():
    pytest.importorskip("matplotlib")
    import matplotlib.image

    section = section_for(_run())
    by_name = {item.name: item for item in section.plots}
    assert set(by_name) == {"pareto", "latency", "operators", "thermal", "power"}
    for item in section.plots:
        assert isinstance(item, Plot), item
        image = matplotlib.image.imread(io.BytesIO(item.png), format="png")
        assert image.shape[0] > 200 and image.shape[1] > 600 and image[..., :3].std() > 0.05, item.name
    run = _run()
    for result in run.variants:
        result.measurement.power = Power(measured=False, reason="no current sensing on a Pi 4")
    assert isinstance({item.name: item for item in section_for(run).plots}["thermal"], Plot)   # heat alone draws
    for result in run.variants:
        result.measurement.thermal = None
    missing = {item.name: item for item in section_for(run).plots if isinstance(item, Missing)}
    assert set(missing) == {"thermal", "power"}
    assert missing["power"].reason == "no current sensing on a Pi 4"


def test_the_page_escapes_board_text_embeds_its_images_and_forbids_other_sources():
    pytest.importorskip("matplotlib")
    text = page.render([section_for(_run())])
    assert "<script>" not in text and "evil.example/x.png\">" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4     # reason, note, error, model path, CPU
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text
    assert text.count('src="data:image/png;base64,') == 5
    assert 'src="http' not in text and "href=" not in text
    assert 'class="chosen"' in text and "QLinearConv is 67% of its operator time" in text


@pytest.fixture
def devices_file(tmp_path):
    path = tmp_path / "devices.toml"
    path.write_text((REPO / "devices.toml").read_text())
    return path


def test_report_refuses_what_it_cannot_do_in_one_line(host_env, devices_file, tmp_path):
    cases = [
        (["report", "-o", str(tmp_path / "r.html")], 2, "give --run ID or -d DEVICE"),
        (["report", "--run", "1", "-d", "local", "-o", str(tmp_path / "r.html")], 2, "not both"),
        (["report", "--run", "1"], 2, "give -o FILE.html, --png DIR, or both"),
        (["report", "--run", "1", "--last", "-o", str(tmp_path / "r.html")], 2, "--last goes with -d"),
        (["report", "--run", "1", "--png", str(tmp_path / "nowhere")], 2, "no such folder"),
        (["report", "--run", "1", "-o", str(tmp_path / "r.html")], 10, "no results yet"),
        # Refused before anything is compressed or measured.
        (["deploy", "-d", "local", "--report", str(tmp_path / "absent" / "r.html")], 2, "--report"),
    ]
    for args, code, message in cases:
        result = cli(host_env, devices_file, *args)
        assert result.returncode == code, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, (args, lines)
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".report-*"))


@pytest.mark.slow
def test_a_deploys_report_opens_in_headless_chromium_with_no_request_and_no_error(demo, host_env, devices_file,
                                                                                  tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    report = tmp_path / "deploy.html"
    deployed = cli(host_env, devices_file, "deploy", "--device", "local", "--json", "--report", str(report),
                   *FAST_FLAGS)
    assert deployed.returncode == 0, deployed.stderr
    run_id = json.loads(deployed.stdout)["id"]
    assert report.is_file() and ("wrote %s" % report) in deployed.stderr

    pngs = tmp_path / "png"
    pngs.mkdir()
    again = cli(host_env, devices_file, "report", "-d", "local", "--last", "-o", str(tmp_path / "again.html"),
                "--png", str(pngs), "--json")
    assert again.returncode == 0, again.stderr
    written = json.loads(again.stdout)
    stored = ResultsStore(host_env["EDGESHRINK_DB"]).load_run(run_id)
    # Drawn: what this board measured. A machine without a power source (or thermal
    # zones) gets no such plot, and the report says why instead.
    drawn = {"pareto", "latency", "operators"} | ({"thermal"} if series.thermal_series(stored) else set()) | (
        {"power"} if any(b.gross_mj is not None for b in series.power_bars(stored)) else set())
    names = sorted(p.name for p in pngs.iterdir())
    assert names == sorted("run%d-%s.png" % (run_id, n) for n in drawn), names
    assert len(written["not_drawn"]) == 5 - len(drawn)
    assert all(" not " in line or "no " in line for line in written["not_drawn"]), written["not_drawn"]

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium here (scripts/setup.sh --test installs Debian's chromium)")
    with Chromium(chromium) as browser:
        record = browser.open(report.as_uri(), expressions={
            "images": "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)",
            "text": "document.body.innerText"})
    # Every request is the page itself or an image inside it.
    assert [url for url in record.requests if url != report.as_uri() and not url.startswith("data:")] == []
    assert record.failed == [] and record.exceptions == []
    assert [entry for entry in record.console if entry[0] in ("error", "warning")] == []
    assert record.evaluated["images"] == [True] * len(drawn)
    assert "Run #%d on local" % run_id in record.evaluated["text"]
    assert len(drawn) == 5 or "not measured: " in record.evaluated["text"]
    screenshot = matplotlib.image.imread(io.BytesIO(record.screenshot), format="png")[..., :3]
    assert screenshot.shape[0] >= 1000 and screenshot.shape[1] >= 1000
    # Not blank: a real page of text, tables and plots leaves a good share of pixels off white.
    assert (screenshot.min(axis=2) < 0.9).mean() > 0.03 and screenshot.std() > 0.05


def test_a_regress_runs_report_draws_each_variants_history_from_the_store(tmp_path):
    pytest.importorskip("matplotlib")
    store = ResultsStore(tmp_path / "results.sqlite")
    for night in range(12):
        run = _run()
        run.status, run.run_id, run.decision = "regress", None, None
        for result in run.variants:
            if result.measurement.ok:   # slower from the seventh night on
                result.measurement.latency_pass.latency.p50_ms *= 1.0 if night < 6 else 1.5
        run.run_id = store.save_run(run)
    section = section_for(store.load_run(run.run_id), store)
    assert isinstance(section.history, Plot), section.history
    assert "since run #7" in section.history.caption, section.history.caption
    deployed = _run()
    deployed.run_id = store.save_run(deployed)
    assert section_for(store.load_run(deployed.run_id), store).history is None   # only a regress run has one


def test_without_matplotlib_the_report_says_how_to_install_it_and_writes_nothing(tmp_path, monkeypatch):
    import sys

    from edgeshrink.host.report import output
    from edgeshrink.shared.errors import UsageError

    monkeypatch.setitem(sys.modules, "matplotlib", None)     # `import matplotlib` now fails
    with pytest.raises(UsageError) as refused:
        output.write([_run()], html_path=tmp_path / "r.html")
    assert "edgeshrink[report]" in refused.value.one_line() and refused.value.exit_code == 2
    assert list(tmp_path.iterdir()) == []
