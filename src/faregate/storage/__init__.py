"""Storage: the database layer, the request log, analytics, feedback and the rollup.

The built-in database backends are imported here so that ``Database.open`` (in ``storage.db``)
knows them whichever storage module was imported first.
"""

from . import postgres_db, sqlite_db  # noqa: F401  (defining a backend registers it)
