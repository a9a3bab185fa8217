"""A store that fails after minutes of measuring keeps the run in the spool, and the
next command imports it (issue 9, item 5). The fault is real: another connection holds
an exclusive lock on the database while the run is being saved."""

import json
import sqlite3

from edgeshrink.host import deploy, inventory, spool
from edgeshrink.host.compress import variants
from edgeshrink.host.lab.models import tiny_convnet
from edgeshrink.host.runs import Run
from edgeshrink.host.store import ResultsStore
from edgeshrink.shared.errors import StoreError

from .conftest import FAST, cli


def locked(path):
    """An exclusive lock on the database, as a writer stuck mid-transaction holds it."""
    holder = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def tiny_variants(tmp_path, count):
    """A tiny model, its source and its first ``count`` default variants."""
    model = tiny_convnet(tmp_path / "tiny.onnx")
    source = deploy.resolve_model(model)
    made = variants.make_variants(model, source.dataset, variants.default_specs()[:count],
                                  cache_dir=tmp_path / "cache", log=lambda m: None)
    return source, made


def test_a_store_locked_after_measuring_keeps_the_run_and_the_next_command_imports_it(
        tmp_path, host_env, monkeypatch):
    monkeypatch.setenv("EDGESHRINK_DB_LOCK_WAIT_S", "0.5")
    source, made = tiny_variants(tmp_path, 2)
    store = ResultsStore(tmp_path / "results.sqlite")
    store.check_usable()
    holders = []

    def lock_once_decided(device, kind, data):
        if kind == "decision":   # measured and decided: now the store fails
            holders.append(locked(store.database.path))

    device = inventory.Device(name="board", root=str(tmp_path / "board"))
    try:
        deploy.deploy(device, source, made, FAST, store=store, on_event=lock_once_decided)
        raise AssertionError("the save should have failed")
    except StoreError as exc:
        assert "database is locked" in exc.message and "the measured run was kept in" in exc.message
    finally:
        for holder in holders:
            holder.close()
    (kept,) = spool.pending(store.identity)
    assert kept[1]["kind"] == "run" and Run.from_dict(kept[1]["payload"]).decision.chosen
    assert store.count_runs() == 0 and not (tmp_path / "board" / "active").exists()   # nothing installed

    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nconnection = "local"\nroot = "%s"\n' % (tmp_path / "board"))
    shown = cli(dict(host_env, EDGESHRINK_DB=str(store.database.path)), devices, "select", "-d", "board", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "imported run #1 (board, measured" in shown.stderr
    assert store.count_runs() == 1 and spool.pending(store.identity) == []
    stored = store.load_run(run_id=1)
    assert stored.device == "board" and len(stored.variants) == 2 and stored.decision.chosen
    assert json.loads(shown.stdout)["ok"] is True


def test_an_install_record_the_locked_store_refused_is_kept_and_imported(tmp_path, host_env, monkeypatch):
    monkeypatch.setenv("EDGESHRINK_DB_LOCK_WAIT_S", "0.5")
    source, made = tiny_variants(tmp_path, 1)
    store = ResultsStore(tmp_path / "results.sqlite")
    holders = []

    def lock_during_install(device, kind, data):
        if kind == "progress" and isinstance(data, dict) and data.get("phase") == "health_check":
            holders.append(locked(store.database.path))

    device = inventory.Device(name="board", root=str(tmp_path / "board"))
    try:
        deploy.deploy(device, source, made, FAST, store=store, on_event=lock_during_install)
        raise AssertionError("recording the install should have failed")
    except StoreError as exc:
        assert "the install record of run #1 was kept in" in exc.message
    finally:
        for holder in holders:
            holder.close()
    assert (tmp_path / "board" / "active").is_symlink()       # the install itself happened
    assert store.load_run(run_id=1).status == "measured"      # ... and the store missed it
    assert spool.import_into(store) and store.load_run(run_id=1).status == "installed"
    assert spool.pending(store.identity) == []


def test_a_damaged_store_is_exit_10_for_select_not_an_internal_error(tmp_path, host_env):
    store = ResultsStore(tmp_path / "results.sqlite")
    source, made = tiny_variants(tmp_path, 1)
    deploy.bench(inventory.Device(name="board", root=str(tmp_path / "board")), source, made, FAST, store=store)
    with sqlite3.connect(str(store.database.path)) as connection:
        connection.execute("UPDATE measurements SET detail_json = '{broken'")
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nconnection = "local"\nroot = "%s"\n' % (tmp_path / "board"))
    result = cli(dict(host_env, EDGESHRINK_DB=str(store.database.path)), devices, "select", "-d", "board")
    assert result.returncode == 10, result.stderr
    assert "damaged data (JSONDecodeError" in result.stderr and "internal error" not in result.stderr
    (tmp_path / "garbage.sqlite").write_bytes(b"\x00not a database" * 512)
    result = cli(dict(host_env, EDGESHRINK_DB=str(tmp_path / "garbage.sqlite")), devices, "select", "-d", "board")
    assert result.returncode == 10 and "file is not a database" in result.stderr


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(tmp_path, host_env):
    import os
    import subprocess
    import time

    model = tiny_convnet(tmp_path / "tiny.onnx")
    source = deploy.resolve_model(model)
    dead = subprocess.Popen(["true"])
    dead.wait()   # a pid that no longer runs
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ("abc.tmp%d" % dead.pid)).mkdir()
    (cache / ("live.tmp%d" % os.getpid())).mkdir()   # a build in progress: kept
    board = tmp_path / "board"
    for folder in ("incoming", "deployments/x.staging"):
        (board / folder).mkdir(parents=True)
    stale = board / "incoming" / ("%s.tok.part" % ("0" * 64))
    stale.write_bytes(b"half an upload")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = board / "incoming" / "fresh.part.upload"
    fresh.write_bytes(b"arriving")
    made = variants.make_variants(model, source.dataset, variants.default_specs()[:1], cache_dir=cache,
                                  log=lambda m: None)
    assert not (cache / ("abc.tmp%d" % dead.pid)).exists() and (cache / ("live.tmp%d" % os.getpid())).exists()
    deploy.bench(inventory.Device(name="board", root=str(board)), source, made, FAST,
                 store=ResultsStore(tmp_path / "r.sqlite"))
    assert not stale.exists() and not (board / "deployments" / "x.staging").exists()
    assert fresh.exists()
