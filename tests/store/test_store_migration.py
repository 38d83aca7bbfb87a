"""Schema migrations: a fresh store (either engine) is created at v1 in one step, recorded once, and
opening it again runs nothing; a later step runs once on a store without it and keeps the data; a
failing step changes nothing; a database newer than the code is refused. Both engines create the
same tables: columns, their affinities, nullability, defaults and primary keys, and the same indexes.
(Concurrent first starts: test_store_start_race.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from drawme.config import CommonConfig
from drawme.store import Dialect, JobStore, schema
from drawme.store.db import Tx

from .helpers import submit

# A step as a later release would add it: a column and an index.
LATER_STEP = "ALTER TABLE workers ADD COLUMN region TEXT;\nCREATE INDEX workers_region ON workers(region)"
# A step whose second statement fails once the first has run.
FAILING_STEP = (
    "ALTER TABLE workers ADD COLUMN region TEXT;\n"
    "INSERT INTO maintenance (task, due_at) VALUES ('probe', 0);\n"
    "INSERT INTO maintenance (task, due_at) VALUES ('probe', 0)"
)

# SQLite's type affinity of a declared type (https://sqlite.org/datatype3.html, 3.1), and the same
# for the PostgreSQL types the schema uses.
POSTGRES_AFFINITY = {
    "integer": "INTEGER",
    "bigint": "INTEGER",
    "double precision": "REAL",
    "text": "TEXT",
    "bytea": "BLOB",
}


def sqlite_affinity(declared: str) -> str:
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


async def describe(tx: Tx) -> tuple[dict[str, list[tuple]], set[str]]:
    """Each table's columns in order as (name, affinity, not null, default, primary key), and the
    names of the indexes the schema creates (not those backing a primary key or a UNIQUE)."""
    tables: dict[str, list[tuple]] = {}
    if tx.dialect is Dialect.SQLITE:
        names = await tx.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for (table,) in names:
            tables[table] = [
                (name, sqlite_affinity(declared), bool(not_null or pk), default, bool(pk))
                for _, name, declared, not_null, default, pk in await tx.rows(f"PRAGMA table_info({table})")
            ]
        rows = await tx.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return tables, {row[0] for row in rows}
    rows = await tx.rows(
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default,"
        " EXISTS (SELECT 1 FROM information_schema.table_constraints t"
        "   JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name"
        "   AND k.table_schema = t.table_schema"
        "   WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema"
        "   AND k.table_name = c.table_name AND k.column_name = c.column_name)"
        " FROM information_schema.columns c WHERE c.table_schema = current_schema()"
        " ORDER BY c.table_name, c.ordinal_position"
    )
    for table, name, data_type, nullable, default, pk in rows:
        default = default.removesuffix("::text") if default is not None else None
        tables.setdefault(table, []).append(
            (name, POSTGRES_AFFINITY[data_type], nullable == "NO", default, pk)
        )
    rows = await tx.rows(
        "SELECT indexname FROM pg_indexes i WHERE schemaname = current_schema()"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    )
    return tables, {row[0] for row in rows}


async def versions(store: JobStore) -> list[tuple[int, float]]:
    rows = await store.db.rows("SELECT version, applied_at FROM schema_version ORDER BY version")
    return [(row[0], row[1]) for row in rows]


async def test_a_fresh_store_is_created_at_v1_once(common, clock):
    store = await JobStore.open(common, clock=clock)
    try:
        assert await store.schema_version() == schema.LATEST == 1
        assert await versions(store) == [(1, clock.now)]
        job = await submit(store, 7)
    finally:
        await store.close()
    first = clock.now
    clock.advance(60)
    again = await JobStore.open(common, clock=clock)  # opening again runs nothing
    try:
        assert await versions(again) == [(1, first)]
        assert (await again.get(job.id)).status == "queued"
    finally:
        await again.close()


async def test_a_later_step_runs_once_and_keeps_the_data(common, clock, monkeypatch):
    store = await JobStore.open(common, clock=clock)
    try:
        job = await submit(store, 7)
        async with store.db.transaction(write=False) as tx:
            tables, indexes = await describe(tx)
    finally:
        await store.close()
    monkeypatch.setitem(schema.MIGRATIONS, 2, LATER_STEP)
    monkeypatch.setattr(schema, "LATEST", 2)
    for _ in range(2):  # the second open runs nothing
        store = await JobStore.open(common, clock=clock)
        try:
            assert [version for version, _ in await versions(store)] == [1, 2]
            assert await store.get(job.id) == job
            async with store.db.transaction(write=False) as tx:
                after, after_indexes = await describe(tx)
        finally:
            await store.close()
        assert after["workers"] == [*tables["workers"], ("region", "TEXT", False, None, False)]
        assert after_indexes == indexes | {"workers_region"}


async def test_a_failing_step_changes_nothing(common, clock, monkeypatch):
    store = await JobStore.open(common, clock=clock)
    try:
        async with store.db.transaction(write=False) as tx:
            before = await describe(tx)
    finally:
        await store.close()
    with monkeypatch.context() as later:
        later.setitem(schema.MIGRATIONS, 2, FAILING_STEP)
        later.setattr(schema, "LATEST", 2)
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            await JobStore.open(common, clock=clock)
    store = await JobStore.open(common, clock=clock)
    try:
        assert [version for version, _ in await versions(store)] == [1]
        async with store.db.transaction(write=False) as tx:
            assert await describe(tx) == before
            assert await tx.rows("SELECT task FROM maintenance") == []
    finally:
        await store.close()


async def test_a_newer_database_is_refused(common, clock):
    store = await JobStore.open(common, clock=clock)
    try:
        async with store.db.transaction() as tx:
            await tx.execute("INSERT INTO schema_version VALUES (99, 0)")
    finally:
        await store.close()
    with pytest.raises(schema.SchemaTooNew, match="v99"):
        await JobStore.open(common, clock=clock)


async def test_both_engines_create_the_same_tables(tmp_path: Path, postgres_url: str):
    described = []
    for url in ("", postgres_url):
        store = await JobStore.open(CommonConfig(data_dir=tmp_path, database_url=url))
        try:
            async with store.db.transaction(write=False) as tx:
                described.append(await describe(tx))
        finally:
            await store.close()
    (sqlite_tables, sqlite_indexes), (postgres_tables, postgres_indexes) = described
    assert sqlite_tables == postgres_tables
    assert sqlite_indexes == postgres_indexes
    assert "schema_version" in sqlite_tables and "jobs_batch" in sqlite_indexes
