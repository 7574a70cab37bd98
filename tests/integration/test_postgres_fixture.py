"""The PostgreSQL fixture starts a real server and hands each test its own database."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

# The fixtures come from tests.fixtures.postgres, registered by pytest_plugins in tests/conftest.py.
pytestmark = pytest.mark.postgres

_seen_urls: list[str] = []


def _round_trip(url: str) -> list[tuple[int, str]]:
    """Create a table, insert two rows and read them back."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(text("INSERT INTO item (id, name) VALUES (1, 'seal'), (2, '电子证照')"))
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, name FROM item ORDER BY id")).all()
        return [(int(r[0]), str(r[1])) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_database(postgres_url: str, run: int) -> None:
    assert postgres_url.startswith("postgresql+psycopg://certseal@127.0.0.1:")
    # The same CREATE TABLE succeeds in both runs only because each run has an empty database.
    assert _round_trip(postgres_url) == [(1, "seal"), (2, "电子证照")]
    _seen_urls.append(postgres_url)
    assert len(set(_seen_urls)) == len(_seen_urls)


def test_server_reports_utf8_and_version(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            encoding = conn.execute(text("SHOW server_encoding")).scalar_one()
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    assert encoding == "UTF8"
    assert int(version) >= 150000
