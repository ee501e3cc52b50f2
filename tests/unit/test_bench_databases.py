"""What the benchmarks note of the PostgreSQL server they ran on (``bench/databases.py``)."""

from sqlalchemy import create_engine, text

from bench.databases import SERVER_SETTINGS, server_settings, wal_counters


def test_the_server_settings_are_read_by_name(postgresql_url):
    settings = server_settings()
    assert sorted(settings) == sorted(SERVER_SETTINGS)
    assert all(settings.values())
    assert settings["autovacuum"] in {"on", "off"}


def test_the_log_counters_grow_with_what_the_server_writes(postgresql_url):
    before = wal_counters()
    engine = create_engine(postgresql_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE wal_probe (v text)"))
            conn.execute(text("INSERT INTO wal_probe SELECT repeat('x', 100) FROM generate_series(1, 10000)"))
    finally:
        engine.dispose()
    after = wal_counters()
    assert after["wal_bytes"] - before["wal_bytes"] > 1_000_000  # 10,000 rows of 100 bytes and more
    assert after["checkpoints"] >= before["checkpoints"] and after["wal_fpi"] >= before["wal_fpi"]
