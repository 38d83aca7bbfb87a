"""The PostgreSQL half of the test suite: a throw-away database on the server TEST_DATABASE_URL names.

One database per test session (`drawme_test_<pid>_<random>`), dropped at the end; one schema per test
inside it, so every test starts from a fresh store. Without a server the PostgreSQL tests are skipped
with one line saying why, unless REQUIRE_POSTGRES=1 (CI), where that is an error.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from itertools import count

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").strip().lower() in ("1", "true", "yes")


@dataclass
class TestServer:
    """A session's database on the test server; `fresh_url()` gives a new empty schema in it."""

    admin_url: str
    database: str
    _schemas: count = field(default_factory=count)

    @property
    def url(self) -> str:
        return make_conninfo(self.admin_url, dbname=self.database)

    def fresh_url(self) -> str:
        schema = f"t{next(self._schemas)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return url_with_schema(self.url, schema)

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def url_with_schema(url: str, schema: str) -> str:
    """A postgresql:// URL whose connections use `schema` (also for child processes)."""
    params = conninfo_to_dict(url)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql://{user}@{host}:{port}/{params['dbname']}?options=-csearch_path%3D{schema}"


def start() -> tuple[TestServer | None, str]:
    """Create this session's database. Returns (server, "") or (None, why it is unavailable)."""
    admin_url = os.environ.get("TEST_DATABASE_URL", "").strip() or DEFAULT_URL
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            database = f"drawme_test_{os.getpid()}_{secrets.token_hex(3)}"
            conn.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"no PostgreSQL server at {admin_url} ({reason})"
    return TestServer(admin_url, database), ""


_server: TestServer | None = None
_unavailable = ""
_started = False


def server() -> TestServer:
    """This session's database, created on first use; skips (or fails, in CI) without a server."""
    global _server, _unavailable, _started
    if not _started:
        _started = True
        _server, _unavailable = start()
    if _server is None:
        if required():
            pytest.fail(f"REQUIRE_POSTGRES=1 but {_unavailable}", pytrace=False)
        pytest.skip(_unavailable)
    return _server


def finish() -> str | None:
    """Drop the session's database. Returns why the PostgreSQL half was skipped, if it was."""
    if _server is not None:
        _server.drop()
    return _unavailable if _started and _server is None else None
