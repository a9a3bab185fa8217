"""The results store: runs saved whole, one transaction each, in SQLite (the default)
or a shared PostgreSQL server (``--db postgresql://...``).

A run is saved only when it is complete, so an interrupted deploy leaves no partial
results behind. The tables and their migrations are in schema.py. The figure columns
are a queryable copy made through ``VariantMeasurement.figure`` (NULL when unknown);
``detail_json`` holds the whole typed measurement without its raw samples, which sit
in ``samples_json``. Every database error becomes a StoreError.
"""

import json
import math
import socket
import time
from contextlib import contextmanager

from ...shared.decision import Decision
from ...shared.device_facts import DeviceFacts
from ...shared.errors import StoreError
from ...shared.measurement import VariantMeasurement
from .. import paths
from ..runs import HistoryEntry, Run, VariantResult
from .postgres_db import SCHEMES, PostgresDatabase
from .sqlite_db import SqliteDatabase

FIGURE_COLUMNS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cov", "load_ms", "first_inference_ms",
                  "peak_rss_mb", "accuracy", "top1_agreement", "cosine_mean", "sqnr_db", "throttled")
HINT = "pass --db PATH (or postgresql://USER@HOST/DB) or set EDGESHRINK_DB"


def database_at(location):
    """The backend for a --db value: a postgresql:// URL, or a SQLite file path."""
    text = str(location)
    scheme = text.split("://", 1)[0].lower() if "://" in text else None
    if scheme in SCHEMES:
        return PostgresDatabase(text, HINT)
    if scheme is not None:
        raise StoreError("results store %s: unsupported database '%s://'" % (text.split("@")[-1], scheme),
                         "--db takes a SQLite file path or a postgresql:// URL")
    return SqliteDatabase(location, HINT)


def _dumps(value):
    return json.dumps(value, sort_keys=True)


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def _column(figure):
    value = figure.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and math.isinf(value):
        return None  # identical outputs: SQNR is infinite, which SQL REAL cannot hold portably
    return value


class ResultsStore:
    def __init__(self, location=None):
        self.database = database_at(location if location else paths.results_db())
        self.location = self.database.display   # printable: a path, or a URL without its password
        self.identity = self.database.identity   # what runs spooled for this store are keyed by

    @contextmanager
    def _connection(self, doing):
        """A connection whose every database (and file system) error is a StoreError."""
        try:
            with self.database.connect() as connection:
                yield connection
        except StoreError:
            raise
        except (OSError,) + self.database.errors as exc:
            raise StoreError("results store %s: could not %s: %s"
                             % (self.location, doing, _one_line(exc)), HINT) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Damaged rows (broken JSON, bad UTF-8, wrong shapes): the store is the problem.
            raise StoreError("results store %s: could not %s: damaged data (%s: %s)"
                             % (self.location, doing, type(exc).__name__, exc), HINT) from None

    def _execute(self, connection, sql, parameters=()):
        return self.database.execute(connection, sql, parameters)

    def check_usable(self):
        """Open (creating if needed) and check the schema, before anything is measured."""
        with self._connection("open it"):
            pass

    def save_run(self, run):
        """Save one complete run (host/runs.Run); returns its id."""
        with self._connection("save a run") as connection:
            with self.database.transaction(connection):  # all of the run or none of it
                cursor = self._execute(
                    connection,                     "INSERT INTO runs (started_at, finished_at, device, model_path, model_sha256,"
                    " settings_json, facts_json, constraints_json, decision_json, push_json, status, host)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (run.started_at, run.finished_at or time.time(), run.device, run.model_path,
                     run.model_sha256, _dumps(run.settings), _dumps(run.facts.to_dict()), _dumps(run.constraints),
                     _dumps(run.decision.to_dict() if run.decision else None), _dumps(run.push), run.status, socket.gethostname()))
                run_id = cursor.fetchone()["id"]
                for variant in run.variants:
                    self._save_variant(connection, run_id, variant)
            return run_id

    def _save_variant(self, connection, run_id, variant):
        manifest = variant.manifest
        cursor = self._execute(
                    connection,             "INSERT INTO variants (run_id, name, technique, sha256, size_bytes, params, macs,"
            " manifest_json) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (run_id, variant.name, manifest.get("technique"), manifest.get("sha256"),
             manifest.get("size_bytes"), manifest.get("params"), manifest.get("macs"), _dumps(manifest)))
        m = variant.measurement
        figures = [_column(m.figure(name)) for name in FIGURE_COLUMNS]
        self._execute(
                    connection,             "INSERT INTO measurements (run_id, variant_id, ok, %s, samples_json, detail_json)"
            " VALUES (?,?,?,%s,?,?)" % (", ".join(FIGURE_COLUMNS), ",".join("?" * len(FIGURE_COLUMNS))),
            [run_id, cursor.fetchone()["id"], int(bool(m.ok))] + figures
            + [_dumps(m.samples_ms), _dumps(m.without_samples().to_dict())])

    def set_decision(self, run_id, decision, status):
        with self._connection("record the decision of run #%s" % run_id) as connection:
            with self.database.transaction(connection):
                self._execute(connection, "UPDATE runs SET decision_json = ?, status = ? WHERE id = ?",
                                   (_dumps(decision.to_dict() if decision else None), status, run_id))

    def set_status(self, run_id, status):
        with self._connection("record the status of run #%s" % run_id) as connection:
            with self.database.transaction(connection):
                self._execute(connection, "UPDATE runs SET status = ? WHERE id = ?", (status, run_id))

    def load_run(self, run_id=None, device=None):
        """A stored run (the latest for ``device`` when no id is given), as a Run."""
        if not self.database.exists():
            raise StoreError("no results yet at %s" % self.location, "run `edgeshrink bench` or `deploy` first")
        with self._connection("read a run") as connection:
            if run_id is not None:
                row = self._execute(connection, "SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            else:
                row = self._execute(connection, "SELECT * FROM runs WHERE device = ? ORDER BY id DESC LIMIT 1",
                                         (device,)).fetchone()
            if row is None:
                raise StoreError("no stored run %s" % (("#%s" % run_id) if run_id is not None
                                                        else "for device '%s'" % device))
            variants = []
            for v in self._execute(
                    connection,                     "SELECT v.name, v.manifest_json, m.samples_json, m.detail_json FROM variants v"
                    " JOIN measurements m ON m.variant_id = v.id WHERE v.run_id = ? ORDER BY v.id",
                    (row["id"],)):
                measurement = VariantMeasurement.from_dict(json.loads(v["detail_json"]))
                if measurement.latency_pass is not None:
                    measurement.latency_pass.samples_ms = json.loads(v["samples_json"]) or []
                variants.append(VariantResult(v["name"], json.loads(v["manifest_json"]), measurement))
            decision = json.loads(row["decision_json"] or "null")
            return Run(run_id=row["id"], device=row["device"], started_at=row["started_at"],
                       finished_at=row["finished_at"], model_path=row["model_path"],
                       model_sha256=row["model_sha256"], settings=json.loads(row["settings_json"]),
                       facts=DeviceFacts.from_dict(json.loads(row["facts_json"])),
                       constraints=json.loads(row["constraints_json"]),
                       decision=Decision.from_dict(decision) if decision else None,
                       push=json.loads(row["push_json"] or "null") or {}, status=row["status"],
                       host=row["host"], variants=variants)

    def history(self, device, variant_sha256):
        """Every stored measurement of one variant file on one device, oldest first:
        [HistoryEntry], failed measurements included (the caller decides)."""
        if not self.database.exists():
            return []
        with self._connection("read the history of device '%s'" % device) as connection:
            rows = self._execute(
                    connection,                 "SELECT r.id, r.started_at, r.status, r.facts_json, r.settings_json, r.model_sha256, v.name,"
                " v.manifest_json, m.samples_json, m.detail_json FROM runs r JOIN variants v ON v.run_id = r.id"
                " JOIN measurements m ON m.variant_id = v.id WHERE r.device = ? AND v.sha256 = ? ORDER BY r.id",
                (device, variant_sha256)).fetchall()
        entries = []
        for row in rows:
            measurement = VariantMeasurement.from_dict(json.loads(row["detail_json"]))
            if measurement.latency_pass is not None:
                measurement.latency_pass.samples_ms = json.loads(row["samples_json"]) or []
            entries.append(HistoryEntry(row["id"], row["started_at"], row["status"], row["name"],
                                        row["model_sha256"], json.loads(row["facts_json"] or "{}"),
                                        json.loads(row["settings_json"] or "{}"),
                                        json.loads(row["manifest_json"] or "{}"), measurement))
        return entries

    def variant_files(self, device, model_sha256=None):
        """The variant files measured on ``device`` (of one source model when given), as
        their sha256, oldest first."""
        if not self.database.exists():
            return []
        query = ("SELECT v.sha256, MIN(r.id) AS first FROM runs r JOIN variants v ON v.run_id = r.id"
                 " WHERE r.device = ? AND v.sha256 IS NOT NULL%s GROUP BY v.sha256 ORDER BY first, MIN(v.id)"
                 % (" AND r.model_sha256 = ?" if model_sha256 else ""))
        with self._connection("list the variants of device '%s'" % device) as connection:
            rows = self._execute(connection, query, (device, model_sha256) if model_sha256 else (device,)).fetchall()
        return [row["sha256"] for row in rows]

    def set_baseline(self, device, variant_sha256, runtime, run_id):
        """From ``run_id`` on, this variant's history on this device is its baseline."""
        with self._connection("record a baseline") as connection:
            with self.database.transaction(connection):
                self._execute(connection, "INSERT INTO baselines (device, variant_sha256, runtime, run_id, set_at) VALUES (?,?,?,?,?)"
                              " ON CONFLICT (device, variant_sha256, runtime)"
                              " DO UPDATE SET run_id = excluded.run_id, set_at = excluded.set_at",
                                   (device, variant_sha256, runtime, run_id, time.time()))

    def baseline_run(self, device, variant_sha256, runtime):
        """The run the accepted baseline starts at, or None (the whole history counts)."""
        if not self.database.exists():
            return None
        with self._connection("read a baseline") as connection:
            row = self._execute(connection, "SELECT run_id FROM baselines WHERE device = ? AND variant_sha256 = ? AND "
                                     "runtime = ?", (device, variant_sha256, runtime)).fetchone()
        return row["run_id"] if row else None

    def count_runs(self):
        if not self.database.exists():
            return 0
        with self._connection("count runs") as connection:
            return self._execute(connection, "SELECT COUNT(*) AS n FROM runs").fetchone()["n"]
