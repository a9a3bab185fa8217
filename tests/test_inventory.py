import pytest
from hypothesis import given, settings, strategies as st

from edgeshrink.host import inventory
from edgeshrink.shared.errors import InventoryError
from edgeshrink.shared.types import MAX_RUNS_LIMIT, BenchSettings

from .conftest import REPO
from .toml_text import toml_value


def write(tmp_path, text):
    path = tmp_path / "devices.toml"
    path.write_text(text)
    return path


def test_shipped_devices_file_has_a_valid_local_device():
    inv = inventory.load(REPO / "devices.toml")
    local = inv.get("local")
    assert local.connection == "local"
    assert local.constraints.max_accuracy_drop == 0.01
    assert local.constraints.latency_percentile == "p90"


def test_full_ssh_device_is_parsed(tmp_path):
    path = write(tmp_path, """
[devices.pi4]
connection = "ssh"
host = "pi4.local"
user = "pi"
port = 2222
threads = 4
cpu_affinity = [0, 1, 2, 3]
tags = ["pi"]
[devices.pi4.constraints]
max_latency_ms = 30
latency_percentile = "p99"
max_power_w = 5.0
require_thermal_evidence = true
allow_unknown = ["max_power_w"]
[devices.pi4.bench]
min_runs = 200
min_time_s = 2
max_time_s = 20.0
""")
    pi4 = inventory.load(path).get("pi4")
    assert (pi4.host, pi4.port, pi4.threads) == ("pi4.local", 2222, 4)
    assert pi4.constraints.max_latency_ms == 30 and pi4.constraints.max_power_w == 5.0
    assert pi4.constraints.require_thermal_evidence is True and pi4.constraints.allow_unknown == ["max_power_w"]
    settings = pi4.bench_settings()
    assert settings.min_runs == 200 and settings.threads == 4 and settings.cpu_affinity == [0, 1, 2, 3]
    assert settings.min_time_s == 2 and settings.validate() == []  # seconds may be whole numbers


@pytest.mark.parametrize("body, key, words", [
    ('[devices.b]\nthreads = "four"\n', "threads", "must be an integer"),
    ('[devices.b]\nthreads = 0\n', "threads", ">= 1"),
    ('[devices.b]\ncolour = "red"\n', "colour", "not a known device key"),
    ('[devices.b]\nconnection = "telnet"\n', "connection", "must be one of"),
    ('[devices.b]\nconnection = "ssh"\n', "host", "required"),
    ('[devices.b]\nport = 70000\n', "port", "between"),
    ('[devices.b.constraints]\nmax_latency_ms = "fast"\n', "constraints.max_latency_ms", "non-negative number"),
    ('[devices.b.constraints]\nmax_accuracy_drop = 2\n', "constraints.max_accuracy_drop", "fraction"),
    ('[devices.b.constraints]\nlatency_percentile = "p95"\n', "constraints.latency_percentile", "p50"),
    ('[devices.b.constraints]\nspeed = 1\n', "constraints.speed", "not a known constraint"),
    ('[devices.b.bench]\nmin_runs = 10\nmax_runs = 5\n', "bench", "min_runs <= max_runs"),
    ('[devices.b.bench]\nmin_runs = 1.5\n', "bench.min_runs", "must be an integer, got 1.5"),
    ('[devices.b.bench]\nwarmup_runs = true\n', "bench.warmup_runs", "must be an integer, got True"),
    ('[devices.b.bench]\nmax_time_s = true\n', "bench.max_time_s", "must be a finite number, got True"),
    ('[devices.b.bench]\nmin_time_s = nan\n', "bench.min_time_s", "must be a finite number"),
    ('[devices.b.bench]\nmax_runs = 200000\n', "bench", "max_runs must be <= 100000"),
    ('[devices.b.bench]\nturbo = 1\n', "bench.turbo", "not a benchmark setting"),
    ('[devices.b.constraints]\nrequire_thermal_evidence = 1\n', "constraints.require_thermal_evidence",
     "true or false"),
    ('[devices.b.constraints]\nallow_unknown = "max_power_w"\n', "constraints.allow_unknown", "list of strings"),
    ('[devices.b.constraints]\nmax_latency_ms = inf\n', "constraints.max_latency_ms", "non-negative number"),
    ('[devices.b.constraints]\nmax_peak_memory_mb = nan\n', "constraints.max_peak_memory_mb", "non-negative"),
    ('[devices.b]\nconnect_timeout_s = inf\n', "connect_timeout_s", "must be"),
    ('[devices.b]\nretries = 1000\n', "retries", "from 1 to 20"),
    ('[devices.b]\nconnect_timeout_s = 86400\n', "connect_timeout_s", "<= 600"),
    ('[devices.b]\nthreads = 100000\n', "threads", "from 1 to 1024"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nroot = "~/../etc"\n', "root", "must not contain '..'"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nroot = "~root/x"\n', "root", "not another user's home"),
    ('[devices.b]\nroot = "relative/dir"\n', "root", "absolute path or start with '~/'"),
    ('[devices.b]\nroot = "/tmp/a\\u001b[2Jb"\n', "root", "without control characters"),
    ('[devices.b]\nconnection = "ssh"\nhost = "bad host; rm"\n', "host", "host name or an address"),
    ('[devices.b]\nconnection = "ssh"\nhost = "%s"\n' % ("h" * 300), "host", "host name or an address"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nuser = "-oProxyCommand=x"\n', "user", "user name"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nproxy_jump = "a@b:22,,c"\n', "proxy_jump", "[user@]host[:port]"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nidentity_file = "/nonexistent/key"\n', "identity_file",
     "does not exist"),
    ('[devices.b]\nconnection = "ssh"\nhost = "h"\nknown_hosts = "/"\n', "known_hosts", "not a file"),
    ('[devices.b]\npython = "py\\u0000thon"\n', "python", "without control characters"),
    ('[devices.b.regress]\nlatency = 5\n', "regress.latency", "fraction above 0 and at most 1"),
    ('[devices.b.regress]\nwindow = 0\n', "regress.window", "number of nights"),
    ('[devices.b.regress]\nseconds = 0\n', "regress.seconds", "seconds of timing per variant"),
    ('[devices.b.regress]\nseconds = 1e9\n', "regress.seconds", "at most 600"),
    ('[devices.b.regress]\nrounds = 2.5\n', "regress.rounds", "number of rounds"),
    ('[devices.b.regress]\nspeed = 1\n', "regress.speed", "not a regress setting"),
])
def test_validation_errors_name_file_device_and_key(tmp_path, body, key, words):
    path = write(tmp_path, body)
    with pytest.raises(InventoryError) as caught:
        inventory.load(path)
    message = caught.value.one_line()
    assert str(path) in message and "device 'b'" in message and "'%s'" % key in message
    assert words in message


def test_broken_toml_and_missing_file_and_unknown_device(tmp_path):
    with pytest.raises(InventoryError, match="not valid TOML"):
        inventory.load(write(tmp_path, "[devices.x\n"))
    with pytest.raises(InventoryError, match="not found"):
        inventory.load(tmp_path / "absent.toml")
    inv = inventory.load(write(tmp_path, "[devices.a]\n"))
    with pytest.raises(InventoryError, match=r"no device named 'zz' \(known: a\)"):
        inv.get("zz")


@pytest.mark.parametrize("values, words", [
    ({"min_runs": 1.5}, "min_runs must be an integer"),
    ({"max_runs": True}, "max_runs must be an integer"),
    ({"min_time_s": "1"}, "min_time_s must be a finite number"),
    ({"cpu_affinity": [0, -1]}, "cpu_affinity must be a list of CPU numbers"),
    ({"threads": 2.0}, "threads must be an integer"),
    ({"max_runs": MAX_RUNS_LIMIT + 1}, "max_runs must be <= %d (raw samples must fit" % MAX_RUNS_LIMIT),
    ({"fidelity_samples": -1}, "fidelity_samples must be >= 0"),
])
def test_settings_arriving_over_the_wire_are_refused_by_type_and_range(values, words):
    problems = BenchSettings.from_dict(values).validate()
    assert any(words in problem for problem in problems), problems


def test_settings_at_the_limits_are_accepted():
    assert BenchSettings(max_runs=MAX_RUNS_LIMIT, min_time_s=0, max_time_s=1).validate() == []


def test_a_relative_ssh_root_lives_under_the_login_home(tmp_path):
    path = write(tmp_path, '[devices.b]\nconnection = "ssh"\nhost = "h"\nroot = "boards/edge"\n')
    assert inventory.load(path).get("b").root == "~/boards/edge"    # never at the board's /


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "", "x" * 65, "tab\\tname"])
def test_a_device_name_that_could_move_a_path_is_refused(tmp_path, name):
    path = write(tmp_path, '[devices."%s"]\n' % name)
    with pytest.raises(InventoryError, match="device name"):
        inventory.load(path)


def test_deep_nesting_and_nul_bytes_are_one_line(tmp_path):
    for body in ("[devices.b]\ntags = " + "[" * 5000 + "]" * 5000 + "\n", "[devices.b]\nhost = \"a\x00b\"\n"):
        with pytest.raises(InventoryError, match="not valid TOML"):
            inventory.load(write(tmp_path, body))


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_value = st.one_of(st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True, allow_infinity=True), _text,
                   st.lists(st.integers(-2, 4), max_size=3), st.lists(_text, max_size=2))
_keys = st.sampled_from(["connection", "host", "user", "port", "root", "threads", "retries", "proxy_jump",
                         "connect_timeout_s", "cpu_affinity", "tags", "python", "bogus"])


@settings(max_examples=200, deadline=None)
@given(name=_text, entries=st.dictionaries(_keys, _value, max_size=5),
       constraints=st.dictionaries(st.sampled_from(["max_latency_ms", "max_accuracy_drop", "allow_unknown",
                                                    "latency_percentile", "speed"]), _value, max_size=2))
def test_devices_file_fuzz_loads_or_is_one_inventory_error(tmp_path_factory, name, entries, constraints):
    import json

    lines = ["[devices.%s]" % json.dumps(name)] + ["%s = %s" % (k, toml_value(v)) for k, v in entries.items()]
    lines += ["[devices.%s.constraints]" % json.dumps(name)] + [
        "%s = %s" % (k, toml_value(v)) for k, v in constraints.items()]
    path = tmp_path_factory.mktemp("toml") / "devices.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        loaded = inventory.load(path)
    except InventoryError as exc:
        assert "\n" not in exc.one_line()
        return
    device = loaded.get(name)
    assert device.threads >= 1 and (device.root is None or ".." not in device.root.split("/"))
