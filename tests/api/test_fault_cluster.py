"""Faults survived, with figures (issue 17): the production shape of
scripts/cluster (nginx in front of two daemons, a PostgreSQL primary with a
streaming replica, Redis), started by that script on free ports with a run
directory of its own under the session directory (DELIVERYD_CLUSTER_DIR),
never the developer's var/cluster. The daemons are $DELIVERYD_BIN (the
sanitizer build under scripts/test; their reports land in the session's san/
and fail the session).

Each case runs under a write load through nginx (Load: threads with their own
requests.Session and unique keys): orders with unique order numbers and an
Idempotency-Key, GPS batches with unique timestamps, payments with an
Idempotency-Key, and reads (lists, analytics, the live map). An answer whose
outcome is unknown (503 from the daemon, 502/503/504 from nginx, a broken
connection) is retried with the same key, as the apps do. Afterwards what
the client saw acknowledged (2xx) is compared with the primary's tables:

- lost: acknowledged, not in the database (an order number, a GPS point, a
  payment's key) - must be 0;
- duplicated: in the database more than once (an order's key, a point, a
  payment's key), or a retry answered with another id - must be 0;
- no 500 ever; every 503 carries Retry-After.

Cases: a daemon SIGKILLed and started again (scripts/cluster up); the primary
restarted (pg_ctl restart -m fast, and -m immediate: the daemons recover by
themselves within 5 s of PostgreSQL being back); Redis SIGKILLed and started
again (the API keeps serving; Redis is used again once back); the replica
stopped (analytics answer from the primary); SIGTERM during imports and during
proof uploads (what is in flight finishes; no half import, no orphan file).

The figures of every case go to <session dir>/fault-figures.json and, since
the session directory is removed after a passing run, to
var/fault-figures.{json,md} of the clone; a summary is printed at the end.
docs/operations.md ("Faults survived") holds the figures of one real run.
"""

import hashlib
import itertools
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from conftest import CONFIG_VARS, PG_BIN, _services
from helpers import DELIVERYD_BIN, REPO, V1, free_port, metric_sum, mint_access_token, order_body

CLUSTER = REPO / "scripts" / "cluster"
RECOVER_LIMIT = 5.0          # seconds from PostgreSQL back to the daemons serving
RESULTS = []                 # one dict of figures per case, in run order


# --- the cluster ----------------------------------------------------------------

class Cluster:
    """scripts/cluster with a run directory, a PostgreSQL directory and ports of
    its own; every command bounded in time."""

    def __init__(self, session):
        self.session = session
        self.run = session.dir / "cluster"
        self.pgdir = session.dir / "cluster-pg"
        self.http_port = free_port()
        self.api_ports = [free_port(), free_port()]
        self.pg_port = free_port()
        self.replica_port = free_port()
        self.redis_port = free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in CONFIG_VARS and not k.startswith("DELIVERYD_CLUSTER_")}
        env.update(
            DELIVERYD_CLUSTER_DIR=str(self.run),
            DELIVERYD_CLUSTER_PG_DIR=str(self.pgdir),
            DELIVERYD_CLUSTER_HTTP_PORT=str(self.http_port),
            DELIVERYD_CLUSTER_API_PORTS=" ".join(map(str, self.api_ports)),
            DELIVERYD_CLUSTER_PG_PORT=str(self.pg_port),
            DELIVERYD_CLUSTER_REPLICA_PORT=str(self.replica_port),
            DELIVERYD_CLUSTER_REDIS_PORT=str(self.redis_port),
            DELIVERYD_CLUSTER_THREADS="4",
            DELIVERYD_BIN=str(DELIVERYD_BIN),
            ASAN_OPTIONS=f"detect_leaks=1:abort_on_error=0:log_path={session.san_dir}/asan",
            UBSAN_OPTIONS=f"print_stacktrace=1:halt_on_error=0:log_path={session.san_dir}/ubsan",
        )
        self.env = env
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.storage = self.run / "storage"

    def cmd(self, what, timeout=240):
        r = subprocess.run([str(CLUSTER), what], env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, cwd="/")
        return r

    def up(self):
        start = time.monotonic()
        r = self.cmd("up")
        assert r.returncode == 0, f"scripts/cluster up failed ({r.returncode}):\n{r.stdout}{r.stderr}\n" \
                                  + self.log_tails()
        return time.monotonic() - start

    def down(self):
        return self.cmd("down", timeout=120)

    def log_tails(self, n=15):
        out = []
        for p in sorted((self.run / "logs").glob("deliveryd-*.log")):
            lines = p.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {p.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def secret(self, name):
        for line in (self.run / "secrets.env").read_text().splitlines():
            if line.startswith(name + "="):
                return line.split("=", 1)[1]
        raise KeyError(name)

    def daemon_pid(self, i):
        try:
            return int((self.run / "pids" / f"deliveryd-{i}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def daemon_url(self, i, path=""):
        return f"http://127.0.0.1:{self.api_ports[i - 1]}{path}"

    def ready(self, i):
        try:
            r = requests.get(self.daemon_url(i, "/ready"), timeout=2)
            return r.status_code, r.json()
        except (requests.RequestException, ValueError):
            return None, {}

    def metric(self, name):
        total = 0.0
        for i in (1, 2):
            try:
                total += metric_sum(requests.get(self.daemon_url(i, "/metrics"), timeout=5).text, name)
            except requests.RequestException:
                pass
        return total

    def sql(self, query, port=None, db="deliveryd"):
        r = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(port or self.pg_port), "-U", "postgres", "-d", db, "-f", "-"],
            input=query, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {query[:300]!r}\n{r.stderr}")
        return [line.split("|") for line in r.stdout.splitlines() if line]

    def pg_ctl(self, which, *args, timeout=120):
        """pg_ctl as the user PostgreSQL runs as, from its directory (as root
        the postgres user), the log kept in its usual file."""
        d = self.pgdir / which
        r = subprocess.run(
            ["bash", "-c", 'source "$0"; d=$1; shift; cd "$d" && as_pg_user "$@"',
             str(REPO / "scripts" / "lib" / "services.sh"), str(d),
             str(PG_BIN / "pg_ctl"), "-D", str(d / "data"), "-l", str(d / "log"), *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"pg_ctl {args}: {r.stdout}{r.stderr}"

    def redis_pid(self):
        try:
            return int((self.run / "redis" / "redis.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def redis_cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.redis_port), *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()


def pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie (not our child, so never ours to reap) counts as gone
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def wait_for(fn, timeout, interval=0.1):
    """Calls fn until truthy; returns seconds taken, or None after timeout."""
    start = time.monotonic()
    while True:
        if fn():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)


# --- the load -------------------------------------------------------------------

_gps_seconds = itertools.count()
_GPS_BASE = int((datetime.now(timezone.utc) - timedelta(days=3)).timestamp())
_days = itertools.count(1)


class Op:
    """One logical write and every attempt it took."""
    __slots__ = ("kind", "key", "acked", "statuses", "ids", "points", "order_id")

    def __init__(self, kind, key):
        self.kind, self.key = kind, key
        self.acked = False
        self.statuses = []
        self.ids = set()
        self.points = ()
        self.order_id = None


class Load:
    """Writes and reads through nginx from a few threads, each with its own
    requests.Session and unique keys, until finish()."""

    def __init__(self, cl, ctx, order_threads=2):
        self.cl, self.ctx = cl, ctx
        self.tag = secrets.token_hex(3).upper()
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.events = []            # (t, kind, label)
        self.ops = []
        self.no_retry_after = 0
        self.stop = threading.Event()
        self.stop_at = None
        self.threads = [threading.Thread(target=self._orders, args=(n,), daemon=True)
                        for n in range(order_threads)]
        self.threads += [threading.Thread(target=self._gps, daemon=True),
                         threading.Thread(target=self._payments, daemon=True),
                         threading.Thread(target=self._reads, daemon=True)]
        self.errors = []

    # one request
    def _send(self, sess, kind, method, path, **kw):
        kw.setdefault("timeout", 30)
        t = time.monotonic() - self.t0
        try:
            r = sess.request(method, self.cl.base + path, **kw)
        except requests.RequestException as e:
            with self.lock:
                self.events.append((t, kind, "conn"))
            return "conn", e
        s = r.status_code
        if 200 <= s < 300:
            label = "2xx"
        elif s == 503:
            from_nginx = "no API instance answered" in r.text
            label = "gateway" if from_nginx else "503"
            if not r.headers.get("Retry-After", "").isdigit():
                with self.lock:
                    self.no_retry_after += 1
        elif s in (502, 504):
            label = "gateway"
        elif s >= 500:
            label = "500"
        else:
            label = f"{s}"
        with self.lock:
            self.events.append((t, kind, label))
            if label == "500" or (label not in ("2xx", "503", "gateway") and kind != "read"):
                self.errors.append(f"{kind} {method} {path}: {s} {r.text[:300]}")
        return label, r

    def _write(self, sess, op, method, path, **kw):
        """Sends until an answer that is not 'unknown'; the same key each time."""
        for _ in range(200):
            label, r = self._send(sess, op.kind, method, path, **kw)
            op.statuses.append(label)
            if label == "2xx":
                op.acked = True
                try:
                    body = r.json()
                    if isinstance(body, dict) and "id" in body:
                        op.ids.add(body["id"])
                except ValueError:
                    pass
                break
            if label not in ("503", "gateway", "conn"):
                break
            if self.stop.is_set() and time.monotonic() - self.stop_at > 20:
                break
            time.sleep(0.2)
        with self.lock:
            self.ops.append(op)

    def _session(self, token):
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = "Bearer " + token
        return s

    def _orders(self, n):
        s = self._session(self.ctx["admin_token"])
        i = 0
        while not self.stop.is_set():
            i += 1
            number = f"FC{self.tag}-{n}-{i}"
            op = Op("order", "ik-" + number)
            op.points = (number,)
            self._write(s, op, "POST", V1 + "/orders",
                        json=order_body(self.ctx["wh"], order_number=number),
                        headers={"Idempotency-Key": op.key})
            time.sleep(0.01)
        s.close()

    def _gps(self):
        s = self._session(self.ctx["driver_token"])
        lat = 29.33
        while not self.stop.is_set():
            secs = [_GPS_BASE + next(_gps_seconds) for _ in range(5)]
            op = Op("gps", f"gps-{secs[0]}")
            op.points = tuple(secs)
            pts = [{"latitude": lat, "longitude": 48.0 + k * 1e-4,
                    "recorded_at": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
                   for k, t in enumerate(secs)]
            self._write(s, op, "POST", V1 + "/drivers/location", json={"points": pts})
            time.sleep(0.02)
        s.close()

    def _payments(self):
        s = self._session(self.ctx["admin_token"])
        orders = self.ctx["pay_orders"]
        i = 0
        while not self.stop.is_set():
            i += 1
            oid = orders[i % len(orders)]
            op = Op("payment", f"pay-{self.tag}-{i}")
            op.order_id = oid
            self._write(s, op, "POST", f"{V1}/orders/{oid}/payment",
                        json={"method": "cash", "amount": "12.500"},
                        headers={"Idempotency-Key": op.key})
            time.sleep(0.02)
        s.close()

    def _reads(self):
        s = self._session(self.ctx["admin_token"])
        while not self.stop.is_set():
            day = (datetime.now(timezone.utc) - timedelta(days=500 + next(_days))).strftime("%Y-%m-%d")
            for path, params in ((V1 + "/orders", {"page_size": 5}),
                                 (V1 + "/analytics/summary", {"from": day, "to": day}),
                                 (V1 + "/drivers/locations", {})):
                self._send(s, "read" if "analytics" not in path else "analytics", "GET", path,
                           params=params)
            time.sleep(0.05)
        s.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def now(self):
        return time.monotonic() - self.t0

    def finish(self):
        self.stop_at = time.monotonic()
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a load thread did not finish"

    # --- what the client saw against what the database holds -----------------
    def verify(self):
        cl = self.cl
        lost, dup, unknown = [], [], 0
        orders = [o for o in self.ops if o.kind == "order"]
        gps = [o for o in self.ops if o.kind == "gps"]
        pays = [o for o in self.ops if o.kind == "payment"]
        for o in self.ops:
            if not o.acked:
                unknown += 1
            if len(o.ids) > 1:
                dup.append(f"{o.kind} {o.key}: answered with ids {sorted(o.ids)}")

        def arr(values):
            return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"

        if orders:
            rows = cl.sql(f"SELECT order_number, count(*), min(id) FROM orders "
                          f"WHERE order_number = ANY({arr([o.points[0] for o in orders])}) GROUP BY 1;"
                          )
            by_number = {r[0]: (int(r[1]), int(r[2])) for r in rows}
            keys = {r[0]: int(r[1]) for r in cl.sql(
                f"SELECT idempotency_key, count(*) FROM orders "
                f"WHERE idempotency_key = ANY({arr([o.key for o in orders])}) GROUP BY 1;")}
            for o in orders:
                n, oid = by_number.get(o.points[0], (0, None))
                if o.acked and n == 0:
                    lost.append(f"order {o.points[0]} acknowledged ({o.statuses}) but not stored")
                if n > 1 or keys.get(o.key, 0) > 1:
                    dup.append(f"order {o.points[0]} stored {n}x, key {keys.get(o.key)}x")
                if o.acked and oid is not None and o.ids and o.ids != {oid}:
                    dup.append(f"order {o.points[0]} answered {o.ids}, stored as {oid}")
        npoints = 0
        if gps:
            lo = min(min(o.points) for o in gps)
            hi = max(max(o.points) for o in gps)
            counts = {int(r[0]): int(r[1]) for r in cl.sql(
                f"SELECT extract(epoch FROM recorded_at)::bigint, count(*) FROM driver_locations "
                f"WHERE driver_id = {self.ctx['driver_id']} AND recorded_at BETWEEN to_timestamp({lo}) "
                f"AND to_timestamp({hi}) GROUP BY 1;")}
            for o in gps:
                for t in o.points:
                    npoints += 1
                    c = counts.get(t, 0)
                    if o.acked and c == 0:
                        lost.append(f"GPS point {t} acknowledged ({o.statuses}) but not stored")
                    if c > 1:
                        dup.append(f"GPS point {t} stored {c}x")
        if pays:
            rows = cl.sql(f"SELECT idempotency_key, count(*), min(id) FROM payment_collections "
                          f"WHERE idempotency_key = ANY({arr([o.key for o in pays])}) GROUP BY 1;")
            by_key = {r[0]: (int(r[1]), int(r[2])) for r in rows}
            for o in pays:
                n, pid = by_key.get(o.key, (0, None))
                if o.acked and n != 1:
                    (lost if n == 0 else dup).append(f"payment {o.key} acknowledged, {n} rows")
                elif n > 1:
                    dup.append(f"payment {o.key}: {n} rows")
                if o.acked and pid is not None and o.ids and o.ids != {pid}:
                    dup.append(f"payment {o.key} answered {o.ids}, stored as {pid}")

        labels = [e[2] for e in self.events]
        analytics = [e for e in self.events if e[1] == "analytics"]
        fig = {
            "requests": len(self.events),
            "2xx": labels.count("2xx"),
            "503": labels.count("503"),
            "gateway": labels.count("gateway"),
            "conn_errors": labels.count("conn"),
            "500": labels.count("500"),
            "other": len(labels) - sum(labels.count(x) for x in ("2xx", "503", "gateway", "conn", "500")),
            "orders": len(orders), "orders_acked": sum(o.acked for o in orders),
            "gps_batches": len(gps), "gps_points": npoints,
            "gps_points_acked": sum(len(o.points) for o in gps if o.acked),
            "payments": len(pays), "payments_acked": sum(o.acked for o in pays),
            "retried": sum(len(o.statuses) > 1 for o in self.ops),
            "unknown_at_end": unknown,
            "analytics": len(analytics), "analytics_2xx": sum(e[2] == "2xx" for e in analytics),
            "lost": len(lost), "duplicated": len(dup),
            "no_retry_after": self.no_retry_after,
        }
        return fig, lost, dup

    def failures_between(self, t_from, t_to=None):
        return [e for e in self.events
                if e[2] != "2xx" and e[0] >= t_from and (t_to is None or e[0] <= t_to)]


def check_figures(load, fig, lost, dup):
    assert fig["500"] == 0, f"500 answers: {[e for e in load.errors if ': 500' in e][:10]}"
    assert not lost, f"acknowledged but lost: {lost[:20]}"
    assert not dup, f"duplicated: {dup[:20]}"
    assert fig["no_retry_after"] == 0, "a 503 without Retry-After"
    assert not load.errors, f"unexpected answers: {load.errors[:10]}"
    assert fig["orders_acked"] > 0 and fig["payments_acked"] > 0, fig


def record(case, command, fig, **extra):
    row = {"case": case, "fault": command, **fig, **extra}
    row["acknowledged"] = (f"{fig['orders_acked']} orders, {fig['gps_points_acked']} GPS points, "
                           f"{fig['payments_acked']} payments")
    RESULTS.append(row)
    print("\nfigures " + json.dumps(row))
    return row


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(test_session, request):
    cl = Cluster(test_session)
    try:
        cl.up()
        yield cl
    finally:
        r = cl.down()
        if r.returncode != 0:
            test_session.problems.append(f"scripts/cluster down (fault tests): {r.stdout}{r.stderr}")
        _write_results(test_session, request.config)


@pytest.fixture(scope="module")
def ctx(cluster):
    """Tokens minted with the cluster's JWT secret for its admin, a warehouse,
    a driver, and orders picked up by that driver for the payments."""
    cl = cluster
    secret = cl.secret("JWT_SECRET")
    admin_id = int(cl.sql("SELECT id FROM users WHERE username = 'admin';")[0][0])
    token = mint_access_token(secret, admin_id, "admin", ttl=3 * 3600)
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = "Bearer " + token

    def ok(method, path, status, **kw):
        r = s.request(method, cl.base + path, timeout=30, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else None

    ok("PUT", V1 + "/settings/rate_limit_per_minute", 200, json={"value": 1000000})
    wh = ok("POST", V1 + "/warehouses", 201,
            json={"code": "FC" + secrets.token_hex(3).upper(), "name": "Fault warehouse"})
    drv = ok("POST", V1 + "/drivers", 201, json={
        "username": "fcdrv" + secrets.token_hex(3), "password": "pw-" + secrets.token_urlsafe(12),
        "full_name": "Fault Driver", "phone": "5" + str(secrets.randbelow(10 ** 7)).zfill(7),
        "code": "FCD" + secrets.token_hex(3).upper(), "vehicle_type": "car", "warehouse_id": wh["id"]})
    pay_orders = []
    for _ in range(4):
        o = ok("POST", V1 + "/orders", 201, json=order_body(wh["id"]))
        ok("POST", f"{V1}/orders/{o['id']}/assign", 200, json={"driver_id": drv["id"]})
        ok("POST", f"{V1}/orders/{o['id']}/pickup", 200, json={})
        pay_orders.append(o["id"])
    c = {"admin_token": token, "wh": wh["id"], "driver_id": drv["id"], "session": s, "ok": ok,
         "driver_token": mint_access_token(secret, drv["user_id"], "driver", ttl=3 * 3600),
         "pay_orders": pay_orders}
    yield c
    s.close()


@pytest.fixture
def healthy(cluster):
    """Every case starts from a whole cluster (an earlier case that failed
    half-way may have left something down)."""
    ok = all(cluster.ready(i)[0] == 200 for i in (1, 2)) and cluster.cmd("status").returncode == 0
    if not ok:
        cluster.up()
    return cluster


COMMON = ["requests", "2xx", "503", "gateway", "conn_errors", "500", "acknowledged", "retried",
          "lost", "duplicated", "recover_s"]
SKIP = {"case", "fault", "other", "unknown_at_end", "no_retry_after", "analytics",
        "analytics_2xx", "orders", "orders_acked", "gps_batches", "gps_points", "gps_points_acked",
        "payments", "payments_acked"}


def _write_results(session, config):
    """The figures as JSON (session dir and var/ of the clone) and Markdown
    (var/fault-figures.md: a table per case, as docs/operations.md has them)."""
    if not RESULTS:
        return
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    command = " ".join(["pytest", *config.invocation_params.args])
    doc = {"date": stamp, "binary": str(DELIVERYD_BIN), "cwd": str(config.invocation_params.dir),
           "command": command, "cases": RESULTS}
    md = [f"Run of {stamp}, `{DELIVERYD_BIN.parent.name}/{DELIVERYD_BIN.name}`, `{command}`", ""]
    summary = ["| case | " + " | ".join(COMMON) + " |", "|---" * (len(COMMON) + 1) + "|"]
    for row in RESULTS:
        cols = COMMON + [k for k in row if k not in COMMON and k not in SKIP]
        md += [f"**{row['case']}** (`{row['fault']}`)", "",
               "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
               "| " + " | ".join(str(row.get(c, "")) for c in cols) + " |", ""]
        summary.append(f"| {row['case']} | " + " | ".join(str(row.get(c, "")) for c in COMMON) + " |")
    text = json.dumps(doc, indent=1)
    paths = [session.dir / "fault-figures.json"]
    try:
        (REPO / "var").mkdir(exist_ok=True)
        (REPO / "var" / "fault-figures.md").write_text("\n".join(md))
        paths += [REPO / "var" / "fault-figures.json", REPO / "var" / "fault-figures.md"]
    except OSError:
        pass
    for p in paths:
        if p.suffix == ".json":
            try:
                p.write_text(text)
            except OSError:
                pass
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if tr is not None and capman is not None:
        with capman.global_and_fixture_disabled():   # a teardown's output is captured otherwise
            tr.write_line("")
            tr.write_line(f"fault figures ({', '.join(str(p) for p in paths)}):")
            for line in summary:
                tr.write_line("  " + line)


# --- the cases ------------------------------------------------------------------

def test_daemon_sigkilled_and_started_again(healthy, ctx):
    cl = healthy
    load = Load(cl, ctx).start()
    time.sleep(2.5)
    pid = cl.daemon_pid(1)
    os.kill(pid, signal.SIGKILL)
    assert pid_gone(pid, 10)
    time.sleep(2.0)                    # nginx routes around it meanwhile
    up_s = cl.up()                     # starts deliveryd-1 again, waits for /ready
    t_back = load.now()
    assert cl.daemon_pid(1) != pid
    before = cl.metric("deliveryd_http_requests_total")
    time.sleep(3.0)
    r = requests.get(cl.daemon_url(1, "/metrics"), timeout=5)
    served = metric_sum(r.text, "deliveryd_http_requests_total")
    load.finish()
    fig, lost, dup = load.verify()
    row = record("daemon SIGKILL, started again", "kill -KILL deliveryd-1; scripts/cluster up",
                 fig, recover_s=round(up_s, 1),
                 failures_after_restart=len(load.failures_between(t_back + 0.5)))
    check_figures(load, fig, lost, dup)
    assert served > 5, f"the restarted daemon served {served} requests (nginx did not use it again)"
    assert cl.metric("deliveryd_http_requests_total") > before
    assert row["failures_after_restart"] == 0, load.failures_between(t_back + 0.5)[:10]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_primary_restarted(healthy, ctx, mode):
    cl = healthy
    pids = [cl.daemon_pid(1), cl.daemon_pid(2)]
    reconnects = cl.metric("deliveryd_db_reconnects_total")
    load = Load(cl, ctx).start()
    time.sleep(2.5)
    t_down = load.now()
    cl.pg_ctl("primary", "restart", "-m", mode, "-w", "-t", "60")
    t_back = load.now()
    # each daemon, by itself: /ready 200 and a read through it, timed from
    # PostgreSQL being back (pg_ctl -w returns when it accepts connections)
    back = time.monotonic()
    recover = {}
    sessions = {}
    for i in (1, 2):
        sessions[i] = requests.Session()
        sessions[i].trust_env = False
        sessions[i].headers["Authorization"] = "Bearer " + ctx["admin_token"]

    def serving(i):
        if cl.ready(i)[0] != 200:
            return False
        try:
            r = sessions[i].get(cl.daemon_url(i, V1 + "/orders"), params={"page_size": 1}, timeout=3)
            return r.status_code == 200
        except requests.RequestException:
            return False

    while len(recover) < 2 and time.monotonic() - back < 15:
        for i in (1, 2):
            if i not in recover and serving(i):
                recover[i] = time.monotonic() - back
        time.sleep(0.05)
    for x in sessions.values():
        x.close()
    time.sleep(3.0)
    load.finish()
    fig, lost, dup = load.verify()
    late = load.failures_between(t_back + RECOVER_LIMIT)
    recover_s = round(max(recover.values()), 2) if len(recover) == 2 else None
    last_fail = max((e[0] for e in load.failures_between(t_back)), default=t_back)
    window = [e for e in load.events if t_down <= e[0] <= t_back + (recover_s or 0)]
    record(f"primary restart -m {mode}", f"pg_ctl restart -m {mode}", fig,
           outage_s=round(t_back - t_down, 2), recover_s=recover_s,
           during_outage=len(window), during_outage_503=sum(e[2] == "503" for e in window),
           last_failure_after_back_s=round(last_fail - t_back, 2))
    check_figures(load, fig, lost, dup)
    assert len(recover) == 2, f"a daemon did not serve again within 15 s: {recover}\n{cl.log_tails()}"
    assert max(recover.values()) <= RECOVER_LIMIT, recover
    assert not late, f"failures more than {RECOVER_LIMIT} s after PostgreSQL was back: {late[:10]}"
    assert [cl.daemon_pid(1), cl.daemon_pid(2)] == pids, "a daemon was restarted"
    assert cl.metric("deliveryd_db_reconnects_total") > reconnects


def test_redis_killed_and_started_again(healthy, ctx):
    cl = healthy
    load = Load(cl, ctx).start()
    time.sleep(2.0)
    pid = cl.redis_pid()
    os.kill(pid, signal.SIGKILL)
    assert pid_gone(pid, 10)
    t_kill = load.now()
    down_seen = wait_for(lambda: all(cl.ready(i)[1].get("redis") == "down" for i in (1, 2)), 10)
    time.sleep(3.0)
    t_restart = load.now()
    _services("redis_start", cl.run / "redis", cl.redis_port)
    cl.redis_cli("DEL", "gen:stats")

    def used_again():
        if not all(cl.ready(i)[1].get("redis") == "up" for i in (1, 2)):
            return False
        return cl.redis_cli("--scan", "--pattern", "rl:*") != "" and cl.redis_cli("EXISTS", "gen:stats") == "1"

    took = wait_for(used_again, 15)
    time.sleep(1.0)
    load.finish()
    fig, lost, dup = load.verify()
    during = [e for e in load.events if t_kill <= e[0] <= t_restart]
    record("Redis SIGKILL, started again", "kill -KILL redis-server; redis_start", fig,
           recover_s=None if took is None else round(took, 2),
           during_outage=len(during), during_outage_2xx=sum(e[2] == "2xx" for e in during))
    check_figures(load, fig, lost, dup)
    assert down_seen is not None, "/ready never reported redis down"
    assert during and all(e[2] == "2xx" for e in during), \
        f"answers other than 2xx while Redis was down: {[e for e in during if e[2] != '2xx'][:10]}"
    assert any(e[1] == "analytics" for e in during)
    assert took is not None, "the daemons did not use Redis again within 15 s of its return"


def test_replica_stopped(healthy, ctx):
    cl = healthy
    fallbacks = cl.metric("deliveryd_replica_fallbacks_total")
    load = Load(cl, ctx).start()
    time.sleep(2.0)
    t_stop = load.now()
    _services("pg_stop", cl.pgdir / "replica")
    time.sleep(4.0)
    t_restart = load.now()
    up_s = cl.up()                       # starts the replica again
    reads = cl.metric("deliveryd_replica_reads_total")

    def replica_used():
        if not all(cl.ready(i)[1].get("replica") == "up" for i in (1, 2)):
            return False
        return cl.metric("deliveryd_replica_reads_total") > reads

    took = wait_for(replica_used, 20, interval=0.25)
    load.finish()
    fig, lost, dup = load.verify()
    during = [e for e in load.events if t_stop <= e[0] <= t_restart and e[1] == "analytics"]
    record("replica stopped", "pg_ctl stop -m fast (replica); scripts/cluster up", fig,
           analytics_during=len(during), analytics_during_2xx=sum(e[2] == "2xx" for e in during),
           recover_s=None if took is None else round(took + up_s, 2))
    check_figures(load, fig, lost, dup)
    assert during and all(e[2] == "2xx" for e in during), during[:10]
    assert cl.metric("deliveryd_replica_fallbacks_total") > fallbacks
    assert took is not None, "the daemons did not read from the replica again"


# --- SIGTERM with work in flight ----------------------------------------------------

def _slow(parts, gate):
    """A chunked body: the first part, then the rest once gate is set."""
    yield parts[0]
    gate.wait(30)
    for p in parts[1:]:
        yield p


def _csv(numbers, wh):
    lines = ["Order No,Customer Name,Mobile,Address,Area,Amount"]
    for k, n in enumerate(numbers):
        lines.append(f"{n},Customer {k},5{k % 10000000:07d},\"Salmiya, Block 10, Street {k % 50}\",Salmiya,12.5")
    return ("\n".join(lines) + "\n").encode()


def _term_and_wait(cl, i):
    pid = cl.daemon_pid(i)
    t = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    return pid, t


def test_sigterm_during_imports(healthy, ctx):
    cl = healthy
    s = ctx["session"]
    load = Load(cl, ctx, order_threads=1).start()
    time.sleep(1.5)
    files = []
    for k, rows in enumerate((1500, 3000, 2000)):
        numbers = [f"FI{load.tag}{k}-{j}" for j in range(rows)]
        files.append((numbers, _csv(numbers, ctx["wh"])))
    gate = threading.Event()
    answers = {}

    def post(k, url, data, retry=False):
        # through nginx, an unknown outcome (the instance closed a kept-alive
        # connection with the request on it) is retried: the same bytes are
        # the same import (duplicate_of), never a second one
        for _ in range(6 if retry else 1):
            try:
                r = s.post(url, params={"warehouse_id": ctx["wh"]}, data=data,
                           headers={"Content-Type": "text/csv"}, timeout=120)
                answers[k] = (r.status_code, r.text[:300], time.monotonic())
            except requests.RequestException as e:
                answers[k] = ("conn", str(e), time.monotonic())
            if answers[k][0] not in (502, 503, 504, "conn"):
                break
            time.sleep(0.3)

    body0 = files[0][1]
    half = len(body0) // 2
    threads = [
        # straight to deliveryd-1, half the body sent before SIGTERM
        threading.Thread(target=post, args=(0, cl.daemon_url(1, V1 + "/orders/import"),
                                            _slow([body0[:half], body0[half:]], gate))),
        # a whole file straight to deliveryd-1, being processed at SIGTERM
        threading.Thread(target=post, args=(1, cl.daemon_url(1, V1 + "/orders/import"), files[1][1])),
    ]
    for t in threads:
        t.start()
    time.sleep(0.4)
    pid, t_term = _term_and_wait(cl, 1)
    time.sleep(0.3)
    gate.set()
    # and one through nginx after the SIGTERM: the other instance takes it
    late = threading.Thread(target=post, args=(2, cl.base + V1 + "/orders/import", files[2][1], True))
    late.start()
    for t in threads + [late]:
        t.join(150)
    exited = pid_gone(pid, 40)
    drain_s = time.monotonic() - t_term
    log1 = (cl.run / "logs" / "deliveryd-1.log").read_text(errors="replace")
    up_s = cl.up()
    time.sleep(1.0)
    load.finish()
    fig, lost, dup = load.verify()
    # every import: all its rows or none, and one imports row when answered
    half_written = []
    for k, (numbers, data) in enumerate(files):
        sha = hashlib.sha256(data).hexdigest()
        imp = cl.sql(f"SELECT count(*), coalesce(max(created), 0) FROM imports WHERE file_sha256 = '{sha}';")[0]
        n = int(cl.sql(f"SELECT count(*) FROM orders WHERE order_number LIKE 'FI{load.tag}{k}-%';")[0][0])
        acked = answers.get(k, ("none",))[0] in (200, 201)
        if acked and (imp[0] != "1" or n != len(numbers) or int(imp[1]) != len(numbers)):
            lost.append(f"import {k} answered 201: imports rows {imp}, orders {n}/{len(numbers)}")
        if n not in (0, len(numbers)) or (n == 0) != (imp[0] == "0"):
            half_written.append(f"import {k}: {n}/{len(numbers)} orders, imports rows {imp[0]}")
    imports_ok = sum(a[0] in (200, 201) for a in answers.values())
    in_flight = sum(a[2] > t_term for k, a in answers.items() if k < 2)
    record("SIGTERM during imports", "kill -TERM deliveryd-1 with imports in flight", fig,
           imports=len(files), imports_201=imports_ok, in_flight_at_sigterm=in_flight,
           half_written=len(half_written),
           drain_s=round(drain_s, 2), recover_s=round(up_s, 1))
    check_figures(load, fig, lost, dup)
    assert exited, "deliveryd-1 did not exit within 40 s of SIGTERM"
    assert not half_written, half_written
    assert all(a[0] in (200, 201) for a in answers.values()), answers
    assert "requests still in flight" not in log1
    assert in_flight >= 1, "no import was in flight at the SIGTERM"


def _multipart(fields, boundary):
    out = []
    for name, (filename, ctype, data) in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
        if filename:
            head += f'; filename="{filename}"'
        head += "\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _jpeg(size):
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    body = head + b"\xff\xfe\x00\x12" + secrets.token_bytes(16)
    return body + secrets.token_bytes(size - len(body) - 2) + b"\xff\xd9"


def test_sigterm_during_proof_uploads(healthy, ctx):
    cl = healthy
    s = ctx["session"]
    ok = ctx["ok"]
    orders = []
    for _ in range(5):
        o = ok("POST", V1 + "/orders", 201, json=order_body(ctx["wh"]))
        ok("POST", f"{V1}/orders/{o['id']}/assign", 200, json={"driver_id": ctx["driver_id"]})
        ok("POST", f"{V1}/orders/{o['id']}/pickup", 200, json={})
        orders.append(o["id"])
    load = Load(cl, ctx, order_threads=1).start()
    time.sleep(1.5)
    gate = threading.Event()
    answers = {}

    def post(k, url, data, boundary):
        try:
            r = s.post(url, data=data, timeout=60,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            answers[k] = (r.status_code, r.text[:300], time.monotonic())
        except requests.RequestException as e:
            answers[k] = ("conn", str(e), time.monotonic())

    threads = []
    for k, oid in enumerate(orders):
        boundary = "b" + secrets.token_hex(8)
        body = _multipart({"photo": ("p.jpg", "image/jpeg", _jpeg(900_000)),
                           "recipient_name": (None, None, b"Fault Recipient")}, boundary)
        if k < 3:   # straight to deliveryd-1, paused half-way through the body
            data = _slow([body[:len(body) // 2], body[len(body) // 2:]], gate)
            url = cl.daemon_url(1, f"{V1}/orders/{oid}/proof")
        else:       # through nginx (which buffers the body), around the SIGTERM
            data = body
            url = cl.base + f"{V1}/orders/{oid}/proof"
        threads.append(threading.Thread(target=post, args=(k, url, data, boundary)))
    for t in threads[:3]:
        t.start()
    time.sleep(0.5)
    pid, t_term = _term_and_wait(cl, 1)
    for t in threads[3:]:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join(90)
    exited = pid_gone(pid, 40)
    drain_s = time.monotonic() - t_term
    up_s = cl.up()
    time.sleep(1.0)
    load.finish()
    fig, lost, dup = load.verify()
    # the database against STORAGE_DIR: every answered proof is stored with its
    # file; every file on disk is a files row; nothing left in tmp/
    stored = {r[0] for r in cl.sql("SELECT storage_path FROM files;")}
    on_disk = {str(p.relative_to(cl.storage)) for p in cl.storage.rglob("*")
               if p.is_file() and p.parts[len(cl.storage.parts)] != "tmp"}
    tmp_left = [str(p) for p in (cl.storage / "tmp").rglob("*") if p.is_file()] \
        if (cl.storage / "tmp").is_dir() else []
    orphans = sorted(on_disk - stored)
    missing = sorted(stored - on_disk)
    for k, oid in enumerate(orders):
        n = int(cl.sql(f"SELECT count(*) FROM proofs WHERE order_id = {oid};")[0][0])
        if answers.get(k, ("none",))[0] == 201 and n != 1:
            (lost if n == 0 else dup).append(f"proof of order {oid} answered 201, {n} rows")
        if n > 1:
            dup.append(f"proof of order {oid}: {n} rows")
    in_flight = sum(a[2] > t_term for k, a in answers.items() if k < 3)
    record("SIGTERM during proof uploads", "kill -TERM deliveryd-1 with uploads in flight", fig,
           uploads=len(orders), uploads_201=sum(a[0] == 201 for a in answers.values()),
           in_flight_at_sigterm=in_flight,
           orphan_files=len(orphans) + len(tmp_left), drain_s=round(drain_s, 2), recover_s=round(up_s, 1))
    check_figures(load, fig, lost, dup)
    assert exited, "deliveryd-1 did not exit within 40 s of SIGTERM"
    # in flight at the SIGTERM: answered; through nginx: answered, or an
    # unknown outcome from nginx (a kept-alive connection closed under it)
    assert all(answers[k][0] == 201 for k in range(3)), answers
    assert all(answers[k][0] in (201, 502, 503, 504) for k in range(3, 5)), answers
    assert in_flight == 3, "the paused uploads were not in flight at the SIGTERM"
    assert not orphans and not tmp_left, f"orphan files: {orphans[:10]} tmp: {tmp_left[:10]}"
    assert not missing, f"files rows without a file: {missing[:10]}"
