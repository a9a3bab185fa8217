"""The results store's schema, as numbered migrations both backends apply in order.

A store records the number of the last migration applied (SQLite in ``PRAGMA
user_version``, PostgreSQL in the ``edgeshrink_schema`` table) and applies every later
one in a single transaction when it is opened, so two hosts opening an old store at
once cannot both migrate it. The statements are written once; ``{id}``, ``{ref}`` and
``{real}`` become each dialect's auto-numbered key, reference and double-precision
float (PostgreSQL's REAL is single precision: a timestamp would lose its seconds).

Tables:

    runs(id, started_at, finished_at, device, model_path, model_sha256, settings_json,
         facts_json, constraints_json, decision_json, push_json, status, host)
    variants(id, run_id, name, technique, sha256, size_bytes, params, macs, manifest_json)
    measurements(id, run_id, variant_id, ok, p50_ms, p90_ms, p99_ms, mean_ms, std_ms, cov,
                 load_ms, first_inference_ms, peak_rss_mb, accuracy, top1_agreement,
                 cosine_mean, sqnr_db, throttled, samples_json, detail_json)
    baselines(device, variant_sha256, runtime, run_id, set_at)   # `regress --set-baseline`
"""

from dataclasses import dataclass
from typing import Tuple

from ...shared.errors import StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    why: str
    statements: Tuple[str, ...]


MIGRATIONS = (
    Migration(1, "runs, their variants and their measurements", (
        """CREATE TABLE IF NOT EXISTS runs (
            id {id}, started_at {real}, finished_at {real}, device TEXT NOT NULL,
            model_path TEXT, model_sha256 TEXT, settings_json TEXT, facts_json TEXT,
            constraints_json TEXT, decision_json TEXT, push_json TEXT, status TEXT)""",
        """CREATE TABLE IF NOT EXISTS variants (
            id {id}, run_id {ref} NOT NULL REFERENCES runs(id), name TEXT,
            technique TEXT, sha256 TEXT, size_bytes BIGINT, params BIGINT, macs BIGINT,
            manifest_json TEXT)""",
        """CREATE TABLE IF NOT EXISTS measurements (
            id {id}, run_id {ref} NOT NULL REFERENCES runs(id),
            variant_id {ref} NOT NULL REFERENCES variants(id), ok INTEGER,
            p50_ms {real}, p90_ms {real}, p99_ms {real}, mean_ms {real}, std_ms {real}, cov {real},
            load_ms {real}, first_inference_ms {real}, peak_rss_mb {real}, accuracy {real},
            top1_agreement {real}, cosine_mean {real}, sqnr_db {real}, throttled INTEGER,
            samples_json TEXT, detail_json TEXT)""",
        "CREATE INDEX IF NOT EXISTS runs_by_device ON runs(device, id)",
    )),
    # 2 changed only what measurement JSON holds (typed records), not the tables.
    Migration(2, "typed measurement records (no table change)", ()),
    Migration(3, "accepted regress baselines", (
        """CREATE TABLE IF NOT EXISTS baselines (
            device TEXT NOT NULL, variant_sha256 TEXT NOT NULL, runtime TEXT NOT NULL,
            run_id {ref} NOT NULL, set_at {real}, PRIMARY KEY (device, variant_sha256, runtime))""",
    )),
    # A store shared by several hosts says which one saved each run; the history and
    # the measurement lookups are by variant file, which a shared store makes large.
    Migration(4, "the host that saved each run; indexes for a shared store", (
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "CREATE INDEX IF NOT EXISTS variants_by_sha256 ON variants(sha256, run_id)",
        "CREATE INDEX IF NOT EXISTS variants_by_run ON variants(run_id, id)",
        "CREATE INDEX IF NOT EXISTS measurements_by_variant ON measurements(variant_id)",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def pending(applied_version, dialect_types):
    """The statements still to apply after ``applied_version``, in the dialect's types."""
    return [statement.format(**dialect_types)
            for migration in MIGRATIONS if migration.version > applied_version
            for statement in migration.statements]


def check_readable(display, applied_version):
    """A store migrated by a newer edgeshrink has tables this one may misread: refuse it."""
    if applied_version > SCHEMA_VERSION:
        raise StoreError("results store %s has schema version %d; this edgeshrink reads up to %d"
                         % (display, applied_version, SCHEMA_VERSION), "upgrade edgeshrink or use another --db")
