"""`edgeshrink regress` as CI runs it: the real agent on `local`, the real store, exit
codes that tell a regression from a broken lab, and a JUnit file a CI system reads."""

import json
import sqlite3
import xml.etree.ElementTree as ElementTree

from .conftest import REPO, cli

FAST_FLAGS = ["--min-runs", "30", "--min-time", "0.1", "--max-time", "1"]


def setup_files(tmp_path):
    devices = tmp_path / "devices.toml"
    # Generous floors: the host running the tests is noisy, and this test is about the
    # wiring; the statistics have their own tests on synthetic histories.
    # No pause before a flagged variant's second measurement: the slowdowns here are in
    # the stored history, so they hold however soon it is measured again.
    devices.write_text((REPO / "devices.toml").read_text() + "\n[devices.local.regress]\nlatency = 0.5\n"
                       "memory = 0.5\nconfirm_pause_s = 0.0\n")
    recipe = tmp_path / "one.toml"
    recipe.write_text('[[variant]]\nname = "half"\nsteps = [{ step = "fp16" }]\n')
    return devices, recipe


def regress(host_env, devices, recipe, model, *extra):
    return cli(host_env, devices, "regress", "-d", "local", str(model), "--recipe", str(recipe), "--json",
               *FAST_FLAGS, *extra)


def make_history_faster(db, factor):
    """Every stored run so far measured ``factor`` times faster: the board has since
    slowed down by as much, as far as the history can tell."""
    with sqlite3.connect(db) as connection:
        for row_id, samples in connection.execute("SELECT id, samples_json FROM measurements").fetchall():
            connection.execute("UPDATE measurements SET samples_json = ? WHERE id = ?",
                               (json.dumps([s * factor for s in json.loads(samples)]), row_id))


def test_regress_passes_unchanged_flags_a_slowdown_with_numbers_and_accepts_a_baseline(tmp_path, host_env,
                                                                                        tiny_model):
    devices, recipe = setup_files(tmp_path)
    junit = tmp_path / "regress.xml"
    first = regress(host_env, devices, recipe, tiny_model, "--junit", str(junit))
    assert first.returncode == 0, first.stderr
    checks = json.loads(first.stdout)["devices"][0]["report"]["checks"]
    assert {c["verdict"] for c in checks} == {"no history"}
    assert ElementTree.parse(junit).getroot().find("testsuite").get("skipped") == str(len(checks))

    second = regress(host_env, devices, recipe, tiny_model)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)["devices"][0]["report"]
    assert report["regressions"] == 0
    figures = {(c["variant"], c["figure"]) for c in report["checks"]}
    assert {("fp32", "latency p50"), ("fp32", "latency p90"), ("fp32", "peak memory"), ("half", "agreement")} <= figures

    make_history_faster(host_env["EDGESHRINK_DB"], 1 / 3.0)
    slowed = regress(host_env, devices, recipe, tiny_model, "--junit", str(junit))
    assert slowed.returncode == 11, slowed.stderr          # a regression, not an infrastructure error
    assert "regressed" in slowed.stderr and "Traceback" not in slowed.stderr
    document = json.loads(slowed.stdout)
    assert document["ok"] is False and document["error"]["code"] == "regression"
    assert document["devices"][0]["report"]["confirm_run_id"] == 4         # the flagged variants, measured again
    flagged = [c for c in document["devices"][0]["report"]["checks"] if c["verdict"] == "regression"]
    p50 = next(c for c in flagged if c["variant"] == "fp32" and c["figure"] == "latency p50")
    assert 2.5 < p50["ratio"] < 3.5 and p50["ci"][0] > 1.5 and p50["baseline_runs"] == [1, 2]
    assert "confirmed by a second measurement" in p50["why"]
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) == len(flagged) and int(suite.get("tests")) == len(
        document["devices"][0]["report"]["checks"])
    failing = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    case = next(c for c in failing if c.get("classname") == "local.fp32" and c.get("name") == "latency p50")
    assert "ratio" in case.find("failure").text and "95% CI" in case.find("failure").text

    # After an intended change: accept today's state, and the next night compares with it.
    # (Its window holds the two nights made 3x faster and the slowed one at today's speed,
    # so whether today still reads as a regression depends on where it falls among them.)
    accepted = regress(host_env, devices, recipe, tiny_model, "--set-baseline")
    assert accepted.returncode in (0, 11), accepted.stderr
    assert json.loads(accepted.stdout)["devices"][0]["report"]["baseline_set"]
    after = regress(host_env, devices, recipe, tiny_model)
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)["devices"][0]["report"]
    assert all(c["baseline_runs"] == [5] for c in report["checks"] if c["verdict"] != "no history")


def test_a_flag_the_second_measurement_does_not_repeat_is_unconfirmed_and_leaves_the_baselines(tmp_path, host_env,
                                                                                             tiny_model):
    """A night disturbed for one measurement: the first says 3x slower, the board is back
    to normal for the second, so nothing is flagged, the figure reads "unconfirmed" with
    both numbers, and the disturbed run stays out of later baseline windows."""
    from edgeshrink.host import dataset, deploy, inventory
    from edgeshrink.host.compress import variants
    from edgeshrink.host.lab.models import tiny_inputs
    from edgeshrink.host.regress.job import regress as regress_job
    from edgeshrink.host.store import ResultsStore
    from edgeshrink.shared.types import BenchSettings

    devices, _ = setup_files(tmp_path)
    x = tiny_inputs(8)
    data = dataset.Dataset(inputs={"x": x}, calibration={"x": x}, source="test")
    made = variants.make_variants(tiny_model, data, [variants.VariantSpec.build("fp32", "fp32")],
                                  cache_dir=tmp_path / "variants")
    source, device = deploy.ModelSource(tiny_model, "tiny", data), inventory.load(devices).get("local")
    settings = BenchSettings(min_runs=30, min_time_s=0.1, max_time_s=1.0)
    db = host_env["EDGESHRINK_DB"]
    store = ResultsStore(db)
    for _ in range(2):
        assert not regress_job(device, source, made, settings, store).regressions
    make_history_faster(db, 1 / 3.0)
    paused = []

    def disturbance_passes(seconds):          # the pause before the second measurement
        paused.append(seconds)
        make_history_faster(db, 3.0)

    report = regress_job(device, source, made, settings, store, sleep=disturbance_passes)
    assert paused == [0.0] and report.regressions == [] and report.confirm_run_id == report.run_id + 1
    unconfirmed = {c.figure: c for c in report.unconfirmed}
    assert "latency p50" in unconfirmed, [c.to_dict() for c in report.checks]
    assert unconfirmed["latency p50"].ratio > 2.5 and "not confirmed: measured again 0 s later" in (
        unconfirmed["latency p50"].why)
    assert store.load_run(report.run_id).status == "regress-unconfirmed"
    later = regress_job(device, source, made, settings, store)
    latency = next(c for c in later.checks if c.figure == "latency p50")
    assert report.run_id not in latency.baseline_runs and report.confirm_run_id in latency.baseline_runs


def test_an_unreachable_board_is_an_infrastructure_error_not_a_regression(tmp_path, host_env, tiny_model):
    from edgeshrink.host.lab.sshd import free_port

    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.gone]\nconnection = "ssh"\nhost = "127.0.0.1"\nport = %d\nretries = 1\n'
                       'connect_timeout_s = 2.0\n' % free_port())
    result = cli(host_env, devices, "regress", "-d", "gone", str(tiny_model), "--json")
    assert result.returncode == 4, result.stderr
    assert json.loads(result.stdout)["error"]["code"] != "regression"


def test_history_lists_each_variant_file_and_exports_csv(tmp_path, host_env, tiny_model):
    import csv
    import io

    devices, recipe = setup_files(tmp_path)
    for _ in range(2):
        assert regress(host_env, devices, recipe, tiny_model).returncode == 0
    listed = cli(host_env, devices, "history", "-d", "local", "--model", str(tiny_model), "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)["keys"]
    assert len(keys) == 2 and all(len(key["rows"]) == 2 and key["runtime"] == "onnxruntime" for key in keys)
    assert [row["run"] for row in keys[0]["rows"]] == [1, 2] and keys[0]["change_points"] == []
    exported = cli(host_env, devices, "history", "-d", "local", "--csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 4 and {row["variant"] for row in rows} == {"fp32", "half"} and float(rows[0]["p50_ms"]) > 0
    other = cli(host_env, devices, "history", "-d", "local", "--model", str(devices), "--json")
    assert other.returncode == 0 and json.loads(other.stdout)["keys"] == []


def test_without_a_model_regress_checks_the_active_deployment(tmp_path, host_env, tiny_model):
    devices, _ = setup_files(tmp_path)
    nothing = cli(host_env, devices, "regress", "-d", "local", *FAST_FLAGS)
    assert nothing.returncode == 2 and "has no active deployment" in nothing.stderr
    deployed = cli(host_env, devices, "deploy", "-d", "local", str(tiny_model), "--json", *FAST_FLAGS)
    assert deployed.returncode == 0, deployed.stderr
    chosen = json.loads(deployed.stdout)["decision"]["chosen"]
    checked = cli(host_env, devices, "regress", "-d", "local", "--json", *FAST_FLAGS)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)["devices"][0]["report"]
    assert {c["variant"] for c in report["checks"]} == {chosen}
    # The deploy's own measurement of the installed file is its history.
    assert all(c["baseline_runs"] == [1] for c in report["checks"] if c["figure"].startswith("latency"))
