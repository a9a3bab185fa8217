"""Where runs are kept: SQLite by default, PostgreSQL for a store several hosts share."""

from .results import FIGURE_COLUMNS, HINT, ResultsStore, database_at
from . import schema
from .schema import SCHEMA_VERSION

__all__ = ["FIGURE_COLUMNS", "HINT", "ResultsStore", "SCHEMA_VERSION", "database_at", "schema"]
