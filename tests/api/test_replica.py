"""READ_DATABASE_URL: the reads that tolerate a second of lag go to a
streaming replica of the session's PostgreSQL (pg_basebackup -R), and a
replica that is down or lagging is never an error to the client: the
primary answers. /ready reports the replica and its lag; /metrics counts
replica reads and fallbacks."""

import os
import shutil
import time
from datetime import timedelta

import pytest

from conftest import PG_BIN, Postgres, _services
from helpers import V1, metric_sum, poll
from field_helpers import *  # noqa: F401,F403 - fixtures and helpers
from field_helpers import TokenClient


@pytest.fixture(scope="module")
def replica(pg, test_session):
    r = Postgres(test_session.dir / "replica", dbname=pg.dbname)
    os.makedirs(r.dir, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(r.dir, "postgres", "postgres")
    _services("as_pg_user", PG_BIN / "pg_basebackup", "-D", r.dir / "data", "-R", "-X", "stream", "-c", "fast",
              "-h", "127.0.0.1", "-p", pg.port, "-U", "postgres", timeout=120)
    test_session.services.append(r)
    r.start()
    yield r
    r.stop()
    test_session.services.remove(r)


@pytest.fixture(scope="module")
def reader(start_daemon, replica):
    d = start_daemon(READ_DATABASE_URL=replica.url)
    yield d
    d.stop()


class _Main:
    def __init__(self, base):
        self.base = base

    def url(self, path=""):
        return self.base + path


def fw_daemon(fw):
    """The session's main daemon (no replica), as summary() takes it."""
    return _Main(fw.base)


def metric(daemon, name):
    import requests
    return metric_sum(requests.get(daemon.url("/metrics"), timeout=5).text, name)


def ready(daemon):
    import requests
    return requests.get(daemon.url("/ready"), timeout=10).json()


_days = iter(range(1, 10000))


def summary(fw, daemon, today=False):
    """GET /analytics/summary on daemon; a range of its own each call (else
    the answer may come from the 5 s shared cache, not from a database)."""
    c = TokenClient(daemon.url(), fw.mgr.session.headers["Authorization"][7:])
    try:
        params = {}
        if not today:
            day = (utcnow() - timedelta(days=400 + next(_days))).strftime("%Y-%m-%d")
            params = {"from": day, "to": day}
        r = c.get(V1 + "/analytics/summary", params=params)
        assert r.status_code == 200, r.text
        return r.json()
    finally:
        c.close()


def test_replica_is_in_recovery_and_reported(replica, reader):
    assert replica.sql("SELECT pg_is_in_recovery()") == "t"
    poll(lambda: ready(reader)["replica"] == "up", 15, what="replica up")
    body = ready(reader)
    assert body["replica"] == "up", body
    assert isinstance(body["replica_lag_seconds"], (int, float)) and body["replica_lag_seconds"] >= 0


def test_analytics_read_from_the_replica(fw, reader):
    poll(lambda: ready(reader)["replica"] == "up", 15, what="replica up")
    before = metric(reader, "deliveryd_replica_reads_total")
    summary(fw, reader)
    assert metric(reader, "deliveryd_replica_reads_total") > before


def test_export_and_imports_history_read_from_the_replica(fw, reader):
    c = TokenClient(reader.url(), fw.mgr.session.headers["Authorization"][7:])
    try:
        poll(lambda: ready(reader)["replica"] == "up", 15, what="replica up")
        before = metric(reader, "deliveryd_replica_reads_total")
        r = c.get(V1 + "/orders/export", params={"format": "csv"})
        assert r.status_code == 200, r.text[:300]
        assert r.text.splitlines()[0].startswith(("Order", "\ufeffOrder")) or "Delivery Time" in r.text
        mid = metric(reader, "deliveryd_replica_reads_total")
        assert mid > before
        assert c.get(V1 + "/imports").status_code == 200
        assert metric(reader, "deliveryd_replica_reads_total") > mid
    finally:
        c.close()


def test_a_lagging_replica_is_not_read(fw, replica, reader, pg):
    set_setting(fw, "replica_max_lag_seconds", 1)
    try:
        # a write the replica replays first, so it has a replay time
        seen = fw.order()
        poll(lambda: replica.sql(f"SELECT count(*) FROM orders WHERE id = {seen['id']}") == "1",
             10, what="replica replayed an order")
        replica.sql("SELECT pg_wal_replay_pause()")
        o = fw.order()  # a write the paused replica does not have
        time.sleep(2.5)
        before = metric(reader, "deliveryd_replica_fallbacks_total")
        poll(lambda: ready(reader)["replica"] == "lagging", 10, what="replica lagging")
        first = summary(fw, reader, today=True)
        assert metric(reader, "deliveryd_replica_fallbacks_total") > before
        # the primary answered: the paused replica does not have the order
        # just made, and the figures are those of the daemon without replica
        assert replica.sql(f"SELECT count(*) FROM orders WHERE id = {o['id']}") == "0"
        assert first == summary(fw, fw_daemon(fw), today=True)
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
        set_setting(fw, "replica_max_lag_seconds", 5)
    poll(lambda: ready(reader)["replica"] == "up", 10, what="replica caught up")


def test_a_stopped_replica_is_never_an_error(fw, replica, reader):
    replica.stop()
    try:
        before = metric(reader, "deliveryd_replica_fallbacks_total")
        for _ in range(3):
            summary(fw, reader)  # asserts 200
        assert metric(reader, "deliveryd_replica_fallbacks_total") > before
        body = ready(reader)
        assert body["status"] == "ready" and body["replica"] == "down", body
    finally:
        replica.start()
    poll(lambda: ready(reader)["replica"] == "up", 15, what="replica back")
    before = metric(reader, "deliveryd_replica_reads_total")
    summary(fw, reader)
    assert metric(reader, "deliveryd_replica_reads_total") > before
