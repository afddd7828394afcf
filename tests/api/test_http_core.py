"""The HTTP foundation through HTTP: request ids, problem+json errors, body
limits, CORS, /health, /ready, /metrics, graceful stop, start-up checks and
`deliveryd migrate`."""

import json
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from helpers import (CORS_ORIGIN, DELIVERYD_BIN, REPO, assert_problem, free_port, http_get, is_served,
                     metric_samples, metric_sum, poll, raw_request, read_http_response)

LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024
THREADS = 8  # the THREADS the session's daemons run with (conftest)
CLOSE = {"Connection": "close"}  # one TCP connection per request


# --- /health and request ids --------------------------------------------------

def test_health(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}
    assert r.headers.get("X-Request-Id")


def test_request_id_is_echoed(api):
    r = api.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id") == "abc-123"


@pytest.mark.parametrize("rid", ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                 "req=42/b;x\"y\"", "x" * 128])
def test_any_visible_ascii_request_id_is_echoed(api, rid):
    r = api.get("/api/v1/nope", headers={"X-Request-Id": rid})
    assert r.headers.get("X-Request-Id") == rid
    assert r.json()["request_id"] == rid


@pytest.mark.parametrize("rid", ["x" * 129, "two words", "caf\u00e9".encode()])
def test_an_unusable_request_id_is_replaced(api, rid):
    r = api.get("/api/v1/nope", headers={"X-Request-Id": rid})
    got = r.headers.get("X-Request-Id")
    assert got and got != rid and r.json()["request_id"] == got


def test_request_id_is_generated(api):
    a = api.get("/health").headers.get("X-Request-Id")
    b = api.get("/health").headers.get("X-Request-Id")
    assert a and b
    assert a != b


# --- errors ---------------------------------------------------------------------

def test_unknown_path_is_problem_404(api):
    r = api.get("/api/v1/nope")
    body = assert_problem(r, 404, "not_found")
    for key in ("type", "title", "status", "code", "request_id"):
        assert key in body, body
    assert body["request_id"] == r.headers.get("X-Request-Id")


def test_unknown_path_echoes_request_id_in_body(api):
    r = api.get("/api/v1/nope", headers={"X-Request-Id": "trace-42"})
    body = assert_problem(r, 404, "not_found")
    assert body["request_id"] == "trace-42"


def test_wrong_method_is_405_with_allow(api):
    r = api.delete("/health")
    assert_problem(r, 405, "method_not_allowed")
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow, r.headers


def test_truncated_json_is_malformed(api):
    r = api.post(LOGIN, data=b'{"username":', headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed_json")


@pytest.mark.parametrize("body", [b"[]", b'["admin", "password"]', b'"admin"', b"42", b"null"])
def test_json_that_is_not_an_object_is_refused(api, body):
    r = api.post(LOGIN, data=body, headers={"Content-Type": "application/json"})
    # valid JSON that is not an object: one answer whatever its kind
    assert_problem(r, 400, "bad_request")
    assert r.headers.get("Content-Type", "").startswith("application/problem+json")
    assert r.json()["status"] == r.status_code


# --- login (the first DB-backed endpoint) ------------------------------------------

def test_login_admin(api, admin_credentials):
    user, password = admin_credentials
    r = api.post(LOGIN, json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    token = r.json().get("access_token")
    assert isinstance(token, str) and token.count(".") == 2


def test_login_unknown_user_is_401(api, migrated):
    r = api.post(LOGIN, json={"username": "nobody-at-all", "password": "not-a-password"})
    assert_problem(r, 401, "invalid_credentials")


def test_login_wrong_password_is_401(api, create_user):
    user, _ = create_user("core_wrong_pw", "driver")
    r = api.post(LOGIN, json={"username": user, "password": "definitely-wrong"})
    assert_problem(r, 401, "invalid_credentials")


# --- body limits ------------------------------------------------------------------

def _login_head(port, extra):
    return (f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}Connection: close\r\n\r\n")


def _spaces(total, step=64 * 1024):
    sent = 0
    while sent < total:
        n = min(step, total - sent)
        yield b" " * n
        sent += n


def _chunked(chunks):
    for c in chunks:
        yield b"%x\r\n" % len(c) + c + b"\r\n"
    yield b"0\r\n\r\n"


# The body is sent from a second thread while the response is read (see
# helpers.raw_request), so a daemon that answers 413 before reading the whole
# body and then closes is judged by its answer, not by a client write error.

def test_body_over_1mib_content_length_is_413(daemon, api):
    size = 2 * MIB
    r = raw_request(daemon.port, _login_head(daemon.port, f"Content-Length: {size}\r\n"), _spaces(size))
    assert r.status == 413, r
    assert r.headers.get("content-type", "").startswith("application/problem+json"), r
    assert r.json()["code"] == "payload_too_large"
    assert api.get("/health").status_code == 200


@pytest.mark.parametrize("length", ["1000000000000000000", "99999999999999999999"])
def test_a_content_length_beyond_int64_is_413_at_once(daemon, api, length):
    """19 digits and more (past what parse_i64 reads) are too large as well:
    answered before any body, not waited for."""
    r = raw_request(daemon.port, _login_head(daemon.port, f"Content-Length: {length}\r\n"),
                    _spaces(4096), timeout=5)
    assert r.status == 413, r
    assert api.get("/health").status_code == 200


def test_body_over_1mib_chunked_is_413(daemon, api):
    r = raw_request(daemon.port, _login_head(daemon.port, "Transfer-Encoding: chunked\r\n"),
                    _chunked(_spaces(2 * MIB)))
    assert r.status == 413, r
    assert r.headers.get("content-type", "").startswith("application/problem+json"), r
    assert r.json()["code"] == "payload_too_large"
    assert api.get("/health").status_code == 200


def test_body_over_1mib_chunked_through_requests_is_413(daemon, api):
    # A generator body makes requests send Transfer-Encoding: chunked.
    try:
        r = api.post(LOGIN, data=_spaces(2 * MIB), headers={"Content-Type": "application/json"})
    except requests.ConnectionError as e:
        pytest.fail(f"connection dropped instead of a 413 answer: {e}")
    assert_problem(r, 413, "payload_too_large")
    assert api.get("/health").status_code == 200


def test_body_just_under_1mib_is_accepted(api, migrated):
    body = json.dumps({"username": "nobody-big", "password": "not-a-password"}).encode()
    body += b" " * (MIB - 1024 - len(body))
    r = api.post(LOGIN, data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 401, "invalid_credentials")


# --- CORS -------------------------------------------------------------------------

def test_cors_preflight(api):
    r = api.options(LOGIN, headers={
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN
    assert "POST" in r.headers.get("Access-Control-Allow-Methods", "").upper()
    allowed = {h.strip().lower() for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")}
    # Content-Disposition carries the file name of a raw-body import
    assert {"authorization", "content-type", "content-disposition", "idempotency-key",
            "x-request-id"} <= allowed


def test_cors_on_normal_request(api):
    r = api.get("/health", headers={"Origin": CORS_ORIGIN})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN


def test_cors_other_origin_gets_no_allow_origin(api):
    r = api.get("/health", headers={"Origin": "http://evil.test"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    r = api.options(LOGIN, headers={"Origin": "http://evil.test",
                                    "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers


# --- /metrics -----------------------------------------------------------------------

def test_metrics(api):
    api.get("/health")
    api.get("/api/v1/nope")
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    requests_total = metric_samples(text, "deliveryd_http_requests_total")
    assert requests_total, text[:2000]
    assert any("route=" in labels and "status=" in labels for labels, _ in requests_total), requests_total
    assert any('status="404"' in labels for labels, _ in requests_total), requests_total
    buckets = metric_samples(text, "deliveryd_http_request_duration_seconds_bucket")
    assert any('le="+Inf"' in labels for labels, _ in buckets), text[:2000]
    assert metric_samples(text, "deliveryd_db_reconnects_total"), text[:2000]


# --- /ready and its dependencies ------------------------------------------------------

def test_ready(api):
    r = api.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["database"] == "up"
    assert body["redis"] == "up"


def _login_fresh(api, user, password):
    """A login on a new TCP connection: a keep-alive connection stays on one
    worker thread, new ones spread over all of them."""
    return api.post(LOGIN, json={"username": user, "password": password}, headers=CLOSE)


def _wait_ready(api, timeout=20):
    def ready_ok():
        r = api.get("/ready")
        return r if r.status_code == 200 else None

    return poll(ready_ok, timeout, what="/ready 200")


@pytest.mark.disruptive
def test_ready_follows_postgres(api, pg, admin_credentials):
    user, password = admin_credentials
    _wait_ready(api)
    before = metric_sum(api.get("/metrics").text, "deliveryd_db_reconnects_total")

    pg.stop()
    try:
        # The first request that meets the dead database: 503, not 500.
        assert_problem(_login_fresh(api, user, password), 503, "unavailable")

        seen = []

        def ready_down():
            r = api.get("/ready")
            seen.append(r.status_code)
            return r if r.status_code == 503 else None

        r = poll(ready_down, 10, what="/ready 503 with PostgreSQL stopped")
        assert set(seen) <= {200, 503}, seen
        body = assert_problem(r, 503, "unavailable")
        assert body.get("database") == "down", body
        assert "redis" in body, body

        for _ in range(3 * THREADS):  # every worker meets the dead database the same way
            assert_problem(_login_fresh(api, user, password), 503, "unavailable")
    finally:
        pg.start()

    _wait_ready(api)
    for _ in range(3 * THREADS):  # and every worker serves again
        r = api.get("/ready", headers=CLOSE)
        assert r.status_code == 200, r.text
        r = _login_fresh(api, user, password)
        assert r.status_code == 200, r.text
    after = metric_sum(api.get("/metrics").text, "deliveryd_db_reconnects_total")
    assert after >= before + 1, (before, after)
    assert after >= 1


@pytest.mark.disruptive
def test_idle_workers_reconnect_after_a_postgres_restart(api, pg, admin_credentials):
    """A short PostgreSQL restart that most worker threads did not witness:
    their connections died with the old server, and the first request each
    of them serves afterwards must reconnect and succeed, not answer 503."""
    user, password = admin_credentials
    _wait_ready(api)
    for _ in range(3 * THREADS):  # every worker holds a live connection
        assert _login_fresh(api, user, password).status_code == 200

    pg.stop()
    try:
        assert_problem(api.post(LOGIN, json={"username": user, "password": password}), 503,
                       "unavailable")
    finally:
        pg.start()

    _wait_ready(api)
    failures = []
    for _ in range(3 * THREADS):
        r = _login_fresh(api, user, password)
        if r.status_code != 200:
            failures.append((r.status_code, r.text[:200]))
    assert not failures, f"{len(failures)} of {3 * THREADS} logins after the restart failed: {failures[:3]}"


@pytest.mark.disruptive
def test_ready_reports_redis(api, redis, migrated):
    r = _wait_ready(api)  # after a failed PostgreSQL test, give it time
    assert r.json()["redis"] == "up", r.text

    redis.stop()
    try:
        seen = []

        def redis_down():
            r = api.get("/ready")
            seen.append(r.status_code)
            return r.status_code == 200 and r.json().get("redis") == "down"

        poll(redis_down, 10, what="/ready redis down")
        assert set(seen) == {200}, seen
        # Redis down is not fatal: DB-backed requests are still answered.
        r = api.post(LOGIN, json={"username": "nobody-no-redis", "password": "not-a-password"})
        assert_problem(r, 401, "invalid_credentials")
    finally:
        redis.start()

    def redis_up():
        r = api.get("/ready")
        return r.status_code == 200 and r.json().get("redis") == "up"

    poll(redis_up, 20, what="/ready redis up after restart")


# --- connections, graceful stop -----------------------------------------------------

def test_idle_connections_do_not_block_others(daemon):
    socks = []
    try:
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            if i % 2:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # head never finished
            socks.append(s)
        t0 = time.monotonic()
        r = http_get(daemon.url("/health"), timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in socks:
            s.close()


def test_graceful_stop_finishes_request_in_flight(start_daemon):
    d = start_daemon()
    body = json.dumps({"username": "nobody-graceful", "password": "not-a-password"},
                      separators=(",", ":")).encode()
    body = body.ljust(60)  # JSON may end in whitespace
    assert len(body) == 60
    head = _login_head(d.port, "Content-Length: 60\r\n").encode()

    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        s.sendall(head + body[:20])
        time.sleep(0.3)
        d.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert d.running(), "exited with a request in flight"
        # While draining it takes no new work.
        assert not is_served(d.port, timeout=2.0), "a new connection was served after SIGTERM"
        s.sendall(body[20:])
        r = read_http_response(s, timeout=10)
    finally:
        s.close()
    assert r.status == 401, r  # the login of an unknown user, answered in full
    # the answer closes its connection: a proxy sends no more on it
    assert r.headers.get("connection", "").lower() == "close", r.headers

    rc = d.wait(10)
    assert rc == 0, f"exit code {rc}\n{d.log_tail()}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=2).close()


def test_sigint_stops_with_exit_0(start_daemon):
    d = start_daemon()
    assert http_get(d.url("/health"), timeout=5).status_code == 200
    assert d.stop(signal.SIGINT, timeout=10) == 0, d.log_tail()


# --- start-up configuration checks -------------------------------------------------------

@pytest.mark.parametrize("var,value", [
    ("JWT_SECRET", None),
    ("DATABASE_URL", None),
    ("JWT_SECRET", "0123456789"),  # 10 bytes, under the 32-byte minimum
])
def test_serve_refuses_bad_config(deliveryd_env, var, value):
    env = dict(deliveryd_env, PORT=str(free_port()))
    if value is None:
        env.pop(var, None)
    else:
        env[var] = value
    proc = subprocess.Popen([str(DELIVERYD_BIN), "serve"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"serve still running 5 s after start without a valid {var}:\n{err[-2000:]}")
    assert proc.returncode != 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(var in line for line in lines), f"no stderr line names {var}:\n{err}"
    assert len(lines) <= 5, f"expected a short, clear message:\n{err}"


# --- deliveryd migrate ---------------------------------------------------------------------

def _migrations_table(pg):
    name = pg.sql("SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
                  "FROM information_schema.tables "
                  "WHERE table_name ILIKE '%migration%' "
                  "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 1")
    assert name, "no table recording the applied migrations"
    return name


def test_migrate_twice_applies_nothing(cli, pg, migrated):
    table = _migrations_table(pg)
    before = pg.sql(f"SELECT * FROM {table} ORDER BY 1")
    assert before, f"{table} is empty after migrate"
    r = cli("migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert pg.sql(f"SELECT * FROM {table} ORDER BY 1") == before


def test_migrate_refuses_a_changed_applied_file(cli, pg, migrated, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", copy)
    first = sorted(copy.glob("0001*.sql"))
    assert first, "no migrations/0001*.sql"
    first = first[0]
    with open(first, "a") as f:
        f.write("\n-- edited after it was applied\n")
    table = _migrations_table(pg)
    before = pg.sql(f"SELECT * FROM {table} ORDER BY 1")

    r = cli("migrate", env={"MIGRATIONS_DIR": str(copy)})
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert first.name in out, out
    assert "checksum" in out.lower(), out
    assert pg.sql(f"SELECT * FROM {table} ORDER BY 1") == before
