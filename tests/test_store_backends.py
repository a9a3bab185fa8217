"""The results store on both backends (issue 14, item 1): the same runs read back from
SQLite and from a real PostgreSQL server, writers in several processes never lose or
mix up a run, migrations bring old stores forward exactly once, and a store that cannot
be used says so in one line."""

import json
import sqlite3
import subprocess
import sys

import pytest

from edgeshrink.host.lab.sample_runs import sample_run
from edgeshrink.host.runs import Run
from edgeshrink.host.store import SCHEMA_VERSION, ResultsStore, schema
from edgeshrink.shared.errors import StoreError

from .conftest import FAST_FLAGS, REPO, run_cli, start_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "results.sqlite")
    return request.getfixturevalue("postgres_url")


def test_a_run_reads_back_the_same_with_its_history_and_baselines(location):
    store = ResultsStore(location)
    first, second = sample_run(tag="a", variants=3, seed=1), sample_run(tag="a", variants=3, seed=1)
    first_id, second_id = store.save_run(first), store.save_run(second)
    assert second_id > first_id and store.count_runs() == 2

    loaded = store.load_run(run_id=first_id)
    assert loaded.host and [v.name for v in loaded.variants] == ["a-v00", "a-v01", "a-v02"]
    for mine, theirs in zip(first.variants, loaded.variants):
        assert theirs.manifest == mine.manifest and theirs.measurement == mine.measurement
    assert loaded.started_at == first.started_at   # a double, not PostgreSQL's single-precision REAL
    assert loaded.decision == first.decision and loaded.facts == first.facts
    assert store.load_run(device="bench-board").run_id == second_id

    sha = first.variants[1].manifest["sha256"]
    assert [entry.run_id for entry in store.history("bench-board", sha)] == [first_id, second_id]
    assert store.variant_files("bench-board") == [v.manifest["sha256"] for v in first.variants]
    store.set_baseline("bench-board", sha, "onnxruntime", first_id)
    store.set_baseline("bench-board", sha, "onnxruntime", second_id)   # replaces, not a second row
    assert store.baseline_run("bench-board", sha, "onnxruntime") == second_id

    store.set_status(first_id, "installed")
    assert store.load_run(run_id=first_id).status == "installed"
    with pytest.raises(StoreError, match="no stored run #999"):
        store.load_run(run_id=999)


WRITER = """
import sys
from edgeshrink.host.lab.sample_runs import sample_run
from edgeshrink.host.runs import Run
from edgeshrink.host.store import ResultsStore
location, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ResultsStore(location)
for seed in range(count):
    store.save_run(sample_run(device="board-" + tag, tag=tag, variants=4, samples=200, seed=seed))
"""


def test_writers_in_several_processes_lose_nothing_and_mix_nothing(location):
    # Three processes open a store that does not exist yet (all migrate it at once) and
    # each saves 15 runs as fast as it can.
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, location, tag, "15"], stderr=subprocess.PIPE,
                                text=True) for tag in ("x", "y", "z")]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    store = ResultsStore(location)
    assert store.count_runs() == 45
    for tag in ("x", "y", "z"):
        device = "board-" + tag
        latest = store.load_run(device=device)
        ids = [entry.run_id for entry in store.history(device, latest.variants[0].manifest["sha256"])]
        assert len(ids) == 1   # every run's variant files are its own (seeded per run)
    runs = [store.load_run(run_id=run_id) for run_id in range(1, 46)]
    assert sorted(run.device for run in runs) == sorted(["board-x"] * 15 + ["board-y"] * 15 + ["board-z"] * 15)
    for run in runs:   # every variant row belongs to its own run's writer, four of them
        tag = run.device[-1]
        assert [v.manifest["tag"] for v in run.variants] == [tag] * 4
        assert [v.name for v in run.variants] == ["%s-v%02d" % (tag, i) for i in range(4)]
    if location.startswith("postgresql"):
        import psycopg

        with psycopg.connect(location) as connection:
            assert connection.execute("SELECT COUNT(*) FROM edgeshrink_schema").fetchone()[0] == 1


def test_hosts_that_waited_for_the_migration_lock_do_not_migrate_again(postgres_url):
    import time

    import psycopg

    from edgeshrink.host.store.postgres_db import MIGRATION_LOCK

    # Hold the migration lock while two writers open the empty store: both find it
    # unmigrated and queue for the lock; the first migrates, the second must not.
    holder = psycopg.connect(postgres_url)
    watcher = psycopg.connect(postgres_url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, tag, "1"], stderr=subprocess.PIPE,
                                    text=True) for tag in ("x", "y")]
        deadline = time.monotonic() + 60
        while watcher.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                              ).fetchone()[0] < 2:
            assert time.monotonic() < deadline and all(w.poll() is None for w in writers), "writers never queued"
            time.sleep(0.05)
        holder.rollback()
        for writer in writers:
            assert writer.wait(timeout=120) == 0, writer.stderr.read()
        assert watcher.execute("SELECT COUNT(*) FROM edgeshrink_schema").fetchone()[0] == 1
        assert ResultsStore(postgres_url).count_runs() == 2
    finally:
        holder.close()
        watcher.close()


LEGACY_V3 = [statement.format(id="INTEGER PRIMARY KEY", ref="INTEGER", real="REAL")
             for migration in schema.MIGRATIONS if migration.version <= 3 for statement in migration.statements]


def test_an_old_sqlite_store_is_migrated_once_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(str(path)) as connection:   # what edgeshrink 0.1 left: schema 3, one run
        for statement in LEGACY_V3:
            connection.execute(statement)
        connection.execute("INSERT INTO runs (device, started_at, settings_json, facts_json, constraints_json,"
                           " decision_json, push_json, status) VALUES ('pi4', 5.0, '{}', '{}', '{}', 'null',"
                           " 'null', 'installed')")
        connection.execute("PRAGMA user_version = 3")
    store = ResultsStore(path)
    old = store.load_run(device="pi4")
    assert old.status == "installed" and old.host is None and old.variants == []
    new_id = store.save_run(sample_run(device="pi4", variants=1))
    assert store.load_run(device="pi4").run_id == new_id
    with sqlite3.connect(str(path)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"variants_by_sha256", "measurements_by_variant"} <= indexes


def test_an_old_postgresql_store_is_migrated_and_a_newer_one_refused(postgres_url):
    import psycopg

    types = {"id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "ref": "BIGINT", "real": "DOUBLE PRECISION"}
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for statement in schema.pending(0, types)[:-4]:   # up to migration 3
            connection.execute(statement)
        connection.execute("CREATE TABLE edgeshrink_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ)")
        connection.execute("INSERT INTO edgeshrink_schema (version) VALUES (3)")
    store = ResultsStore(postgres_url)
    run_id = store.save_run(sample_run(variants=2))
    assert store.load_run(run_id=run_id).host
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM edgeshrink_schema ORDER BY version")]
        assert versions == [3, SCHEMA_VERSION]
        connection.execute("INSERT INTO edgeshrink_schema (version) VALUES (99)")
    with pytest.raises(StoreError) as refused:
        ResultsStore(postgres_url).count_runs()
    assert "schema version 99" in refused.value.message and "upgrade edgeshrink" in refused.value.hint


@pytest.mark.parametrize("url, says", [
    ("postgresql://ci:s3cret@127.0.0.1:1/results", "could not read a run: connection failed"),
    ("postgresql://ci@127.0.0.1:notaport/results", "could not read a run"),
    ("mysql://ci:s3cret@db/results", "unsupported database 'mysql://'"),
])
def test_an_unusable_database_url_is_one_line_exit_10_and_never_shows_the_password(tmp_path, url, says):
    env = {"EDGESHRINK_DB": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    result = run_cli(["--devices", str(REPO / "devices.toml"), "select", "-d", "local", "--json"], env)
    assert result.returncode == 10, result.stderr
    document = json.loads(result.stdout)
    assert says in document["error"]["message"] and "Traceback" not in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    line = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(line) <= 2, result.stderr   # the error and its hint


@pytest.mark.slow
def test_two_deploys_at_once_store_both_runs_whole_in_postgresql(demo, host_env, postgres_url, tmp_path):
    # Two hosts' CI jobs, each with its own board, share one PostgreSQL store.
    devices = tmp_path / "devices.toml"
    local = (REPO / "devices.toml").read_text().split("# A Raspberry Pi 4")[0]
    devices.write_text(local + local.replace("[devices.local", "[devices.bench2"))
    env = dict(host_env, EDGESHRINK_DB=postgres_url)
    flags = FAST_FLAGS + ["--json"]
    deploys = [start_cli(["--devices", str(devices), "deploy", "-d", name] + flags, env)
               for name in ("local", "bench2")]
    documents = []
    for deploy in deploys:
        out, err = deploy.communicate(timeout=600)
        assert deploy.returncode == 0, err
        documents.append(json.loads(out))
    assert {d["device"] for d in documents} == {"local", "bench2"}
    store = ResultsStore(postgres_url)
    assert store.count_runs() == 2
    for document in documents:
        stored = store.load_run(run_id=document["id"])
        assert stored.device == document["device"] and stored.status == "installed"
        assert [v.name for v in stored.variants] == [v["name"] for v in document["variants"]]
        assert stored.decision.chosen == document["decision"]["chosen"]
        assert stored.variants == Run.from_dict(document).variants
