"""The default results store: one SQLite file, nothing to start.

Writers queue on SQLite's file lock: a write transaction starts with ``BEGIN
IMMEDIATE`` (so two writers never both hold a read snapshot they then cannot
upgrade) and a locked file is waited for, boundedly, before the store gives up.
"""

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from ...shared.errors import StoreError
from . import schema

DEFAULT_LOCK_WAIT_S = 30.0   # EDGESHRINK_DB_LOCK_WAIT_S overrides


def lock_wait_s():
    try:
        return max(0.0, float(os.environ.get("EDGESHRINK_DB_LOCK_WAIT_S", DEFAULT_LOCK_WAIT_S)))
    except ValueError:
        return DEFAULT_LOCK_WAIT_S


class SqliteDatabase:
    kind = "sqlite"
    types = {"id": "INTEGER PRIMARY KEY", "ref": "INTEGER", "real": "REAL"}
    errors = (sqlite3.Error,)

    def __init__(self, path, hint):
        self.path = Path(path)
        self.hint = hint
        self.display = str(self.path)
        self.identity = str(self.path.resolve())   # what spooled runs are keyed by

    def exists(self):
        return self.path.exists()

    @contextmanager
    def connect(self):
        if self.path.is_dir():
            raise StoreError("results store %s is a directory, not a database file" % self.path, self.hint)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun explicitly, see transaction().
        connection = sqlite3.connect(str(self.path), timeout=lock_wait_s(), isolation_level=None)
        try:
            connection.row_factory = sqlite3.Row
            self._migrate(connection)
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self, connection):
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def execute(self, connection, sql, parameters=()):
        return connection.execute(sql, parameters)

    def _migrate(self, connection):
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == schema.SCHEMA_VERSION:
            return
        with self.transaction(connection):
            # Read again under the write lock: another process may have just migrated it.
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            schema.check_readable(self.display, version)
            for statement in schema.pending(version, self.types):
                connection.execute(statement)
            connection.execute("PRAGMA user_version = %d" % schema.SCHEMA_VERSION)
