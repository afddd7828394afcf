"""Session fixtures for the deliveryd API tests.

The daemon is started exactly as an operator would start it: a private
PostgreSQL cluster (initdb into a temporary directory, a free port on
127.0.0.1, fsync off) and a private redis-server, both through
scripts/lib/services.sh (the same code scripts/run uses), then
`deliveryd migrate` and `deliveryd serve` with the configuration in the
environment. Tests speak HTTP only (or run the CLI as an operator would).

The binary is $DELIVERYD_BIN, by default <repo>/build-asan/deliveryd (the
sanitizer build made by scripts/test). Every deliveryd process writes
sanitizer reports to <session dir>/san/; at the end of the session every
daemon gets SIGTERM, and the session fails if any report exists or any daemon
did not exit 0 on SIGTERM/SIGINT.

Fixtures: pg, redis, deliveryd_env, cli, migrated, daemon, start_daemon,
admin_credentials, create_user, api.
"""

import atexit
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from helpers import CORS_ORIGIN, DELIVERYD_BIN, REPO, Api, free_port

SERVICES = REPO / "scripts" / "lib" / "services.sh"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 15.0

# Configuration the daemon reads; never inherited from the developer's shell.
CONFIG_VARS = (
    "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "CRON_SECRET", "D365_WEBHOOK_SECRET",
    "BIND_ADDRESS", "PORT", "THREADS", "STORAGE_DIR", "CORS_ORIGINS", "LOG_LEVEL",
    "MIGRATIONS_DIR", "SCHEMA_DIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "CONNECTION_LIMIT",
    "CONNECTION_TIMEOUT", "PER_ADDRESS_CONNECTION_LIMIT", "REQUEST_HEAD_TIMEOUT",
)


def _services(func, *args, timeout=120):
    """Runs one function of scripts/lib/services.sh in bash."""
    r = subprocess.run(
        ["bash", "-c", 'source "$0" && "$@"', str(SERVICES), func, *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
    if r.returncode != 0:
        raise RuntimeError(f"services.sh {func} {' '.join(map(str, args))} failed "
                           f"(exit {r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


# --- session state ----------------------------------------------------------

class _Session:
    """Per-session directory, shared secrets, and the record of every daemon."""

    def __init__(self):
        # Not under pytest's basetemp: that is mode 700 and, when we are root,
        # PostgreSQL runs as the postgres user and must reach its directory.
        self.dir = Path(tempfile.mkdtemp(prefix="deliveryd-test-"))
        self.dir.chmod(0o755)
        self.san_dir = self.dir / "san"
        self.logs_dir = self.dir / "logs"
        self.storage_dir = self.dir / "storage"
        for d in (self.san_dir, self.logs_dir, self.storage_dir):
            d.mkdir()
        self.jwt_secret = secrets.token_hex(32)  # 64 hex characters
        self.cron_secret = secrets.token_hex(32)
        self.d365_secret = secrets.token_hex(32)
        self.daemons = []
        self.services = []  # Postgres/Redis objects to stop at exit
        self.problems = []
        self.finished = False

    def sanitizer_reports(self):
        return sorted(p for p in self.san_dir.rglob("*") if p.is_file())


_SESSION = None


def _emergency_cleanup():
    """atexit: if the session did not finish (crash, SIGTERM), leave nothing running."""
    s = _SESSION
    if s is None or s.finished:
        return
    for d in s.daemons:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
    for svc in s.services:
        try:
            svc.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_emergency_cleanup)


def pytest_configure(config):
    # A SIGTERM (e.g. scripts/test's time limit) ends the run like Ctrl-C, so
    # the fixtures' finalizers stop PostgreSQL, Redis and the daemons.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def pytest_collection_modifyitems(session, config, items):
    # Tests that stop PostgreSQL or Redis under the shared daemon run last, so
    # a failure there cannot spill into unrelated tests.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


def pytest_sessionstart(session):
    if not (DELIVERYD_BIN.is_file() and os.access(DELIVERYD_BIN, os.X_OK)):
        pytest.exit(f"deliveryd binary not found: {DELIVERYD_BIN} "
                    "(build it, e.g. ./scripts/test, or set DELIVERYD_BIN)", returncode=3)


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    yield  # after every other implementation, including the fixture teardown
    if _SESSION is not None and _SESSION.problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _SESSION is not None and _SESSION.problems:
        terminalreporter.section("deliveryd session problems", red=True)
        for p in _SESSION.problems:
            terminalreporter.write_line(p)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SESSION is not None:
        for d in _SESSION.daemons:
            if d.started_for == item.nodeid or d.name == "main":
                rep.sections.append((f"deliveryd '{d.name}' log (last 40 lines)", d.log_tail(40)))


# --- PostgreSQL and Redis -----------------------------------------------------

class Postgres:
    """A private cluster: pg_start/pg_stop from scripts/lib/services.sh."""

    def __init__(self, directory, dbname="deliveryd_test"):
        self.dir = Path(directory)
        self.port = free_port()
        self.dbname = dbname

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def start(self):
        """Starts (or restarts after stop()) on the same port and data directory."""
        _services("pg_start", self.dir, self.port, "test")

    def stop(self):
        _services("pg_stop", self.dir)

    def create_database(self, name=None):
        _services("pg_createdb", self.port, name or self.dbname)

    def sql(self, query, db=None):
        """Runs query with psql -At; returns its output without the final newline."""
        r = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", db or self.dbname, "-c", query],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {query!r}\n{r.stderr}")
        return r.stdout.rstrip("\n")

    def log_text(self):
        try:
            return (self.dir / "log").read_text(errors="replace")
        except OSError:
            return ""


class Redis:
    """A private redis-server: redis_start/redis_stop from scripts/lib/services.sh."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.port = free_port()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        _services("redis_start", self.dir, self.port)

    def stop(self):
        _services("redis_stop", self.dir)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *map(str, args)],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli {args} failed: {r.stderr}")
        return r.stdout.rstrip("\n")


# --- the daemon ---------------------------------------------------------------

class Daemon:
    """One `deliveryd serve` process on a free port, output in a log file."""

    def __init__(self, session, name, env, started_for=None):
        self.session = session
        self.name = name
        self.port = free_port()
        self.env = dict(env)
        self.env["PORT"] = str(self.port)
        self.log_path = session.logs_dir / f"{name}.log"
        self.started_for = started_for
        self.proc = None
        self.returncode = None
        self._graceful_signal = None
        self._killed = False
        session.daemons.append(self)

    def start(self, timeout=START_TIMEOUT):
        """Starts the process and waits (bounded) until GET /health answers 200."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(DELIVERYD_BIN), "serve"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        http = requests.Session()
        http.trust_env = False
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"deliveryd '{self.name}' exited with {self.proc.returncode} "
                                       f"during start:\n{self.log_tail(40)}")
                try:
                    if http.get(self.url("/health"), timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    self.kill9()
                    raise RuntimeError(f"deliveryd '{self.name}' did not answer /health within "
                                       f"{timeout} s:\n{self.log_tail(40)}")
                time.sleep(0.1)
        finally:
            http.close()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def send_signal(self, sig):
        """Sends sig without waiting; pair with wait()."""
        if sig in (signal.SIGTERM, signal.SIGINT):
            self._graceful_signal = sig
        self.proc.send_signal(sig)

    def wait(self, timeout=10):
        """Waits for exit; returns the exit code (negative: killed by a signal).
        A process that outlives the timeout is killed and that is recorded."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.session.problems.append(
                f"deliveryd '{self.name}' (pid {self.pid}) did not exit within {timeout} s "
                f"after {self._graceful_signal!r}; killed")
            self.kill9()
            return self.returncode
        if self._graceful_signal is not None and not self._killed and self.returncode != 0:
            self.session.problems.append(
                f"deliveryd '{self.name}' exited {self.returncode} after "
                f"{signal.Signals(self._graceful_signal).name} (expected 0); log: {self.log_path}")
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig (SIGTERM by default) and waits; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            return self.returncode
        self.send_signal(sig)
        return self.wait(timeout)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self._killed = True
            self.proc.kill()
            self.returncode = self.proc.wait()
        return self.returncode

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


# --- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def test_session(request):
    """The session directory and bookkeeping. Its teardown runs last: every
    daemon still running gets SIGTERM, then the session fails if a daemon did
    not exit 0 or any sanitizer report was written. After a failure the
    directory (logs, sanitizer reports; not the database files) is kept."""
    global _SESSION
    s = _Session()
    _SESSION = s
    yield s
    for d in s.daemons:
        if d.running():
            d.stop(signal.SIGTERM, timeout=15)
    for svc in reversed(s.services):
        try:
            svc.stop()
        except Exception as e:  # noqa: BLE001 - report, keep tearing down
            s.problems.append(f"stopping {svc.__class__.__name__}: {e}")
    reports = s.sanitizer_reports()
    for path in reports:
        text = path.read_text(errors="replace")
        s.problems.append(f"sanitizer report {path}:\n{text[:20000]}")
    s.finished = True
    if s.problems or request.session.testsfailed:
        shutil.rmtree(s.dir / "pg" / "data", ignore_errors=True)
        print(f"\ndeliveryd test logs kept in {s.dir}")
    else:
        shutil.rmtree(s.dir, ignore_errors=True)
    if s.problems:
        pytest.fail("deliveryd session problems:\n" + "\n".join(s.problems), pytrace=False)


@pytest.fixture(scope="session")
def pg(test_session):
    p = Postgres(test_session.dir / "pg")
    test_session.services.append(p)
    p.start()
    p.create_database()
    yield p
    p.stop()
    test_session.services.remove(p)


@pytest.fixture(scope="session")
def redis(test_session):
    r = Redis(test_session.dir / "redis")
    test_session.services.append(r)
    r.start()
    yield r
    r.stop()
    test_session.services.remove(r)


@pytest.fixture(scope="session")
def deliveryd_env(test_session, pg, redis):
    """The environment every deliveryd process of the session gets (no PORT)."""
    s = test_session
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.update(
        DATABASE_URL=pg.url,
        REDIS_URL=redis.url,
        JWT_SECRET=s.jwt_secret,
        CRON_SECRET=s.cron_secret,
        D365_WEBHOOK_SECRET=s.d365_secret,
        BIND_ADDRESS="127.0.0.1",
        STORAGE_DIR=str(s.storage_dir),
        CORS_ORIGINS=CORS_ORIGIN,
        MIGRATIONS_DIR=str(REPO / "migrations"),
        SCHEMA_DIR=str(REPO / "sql" / "schema"),
        LOG_LEVEL="info",
        THREADS="8",
        ASAN_OPTIONS=f"detect_leaks=1:abort_on_error=0:log_path={s.san_dir}/asan",
        UBSAN_OPTIONS=f"print_stacktrace=1:halt_on_error=0:log_path={s.san_dir}/ubsan",
    )
    return env


def _apply_overrides(env, overrides):
    env = dict(env)
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


@pytest.fixture(scope="session")
def cli(deliveryd_env):
    """cli(*args, input=None, env={...overrides, None removes}, timeout=60) ->
    CompletedProcess (text) of `deliveryd ARGS` with the session environment."""

    def run(*args, input=None, env=None, timeout=60):
        return subprocess.run([str(DELIVERYD_BIN), *map(str, args)],
                              env=_apply_overrides(deliveryd_env, env or {}),
                              input=input if input is not None else "",
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def migrated(cli):
    r = cli("migrate", timeout=120)
    assert r.returncode == 0, f"deliveryd migrate failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    return r


@pytest.fixture(scope="session")
def start_daemon(test_session, deliveryd_env, migrated):
    """start_daemon(**env_overrides) -> a started Daemon on its own port
    (an override of None removes the variable). Stopped at the end of the session."""
    started = []

    def start(**overrides):
        d = Daemon(test_session, f"extra{len(started) + 1}", _apply_overrides(deliveryd_env, overrides),
                   started_for=os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0] or None)
        started.append(d)
        return d.start()

    yield start
    for d in started:  # before PostgreSQL and Redis stop
        if d.running():
            d.stop(signal.SIGTERM, timeout=15)


@pytest.fixture(scope="session")
def daemon(test_session, deliveryd_env, migrated):
    """The main instance, shared by the session."""
    d = Daemon(test_session, "main", deliveryd_env)
    d.start()
    yield d
    if d.running():
        d.stop(signal.SIGTERM, timeout=15)


@pytest.fixture(scope="session")
def create_user(cli, migrated):
    """create_user(username, role, password=None, full_name=None) -> (username, password),
    through `deliveryd create-user` with the password on standard input."""

    def create(username, role, password=None, full_name=None):
        password = password or secrets.token_urlsafe(18)
        args = ["create-user", "--username", username, "--role", role]
        if full_name:
            args += ["--full-name", full_name]
        r = cli(*args, input=password + "\n")
        assert r.returncode == 0, f"create-user {username} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        return username, password

    return create


@pytest.fixture(scope="session")
def admin_credentials(create_user):
    return create_user("admin", "admin", full_name="Test Admin")


@pytest.fixture(autouse=True)
def _main_daemon_alive(test_session):
    """Fails a test at once, with the reason, if the main daemon has died:
    otherwise every later test reports only 'connection refused'."""
    main = next((d for d in test_session.daemons if d.name == "main"), None)
    if main is not None and main.proc is not None and not main.running():
        msg = (f"the main deliveryd exited with {main.proc.returncode} during an earlier test "
               f"(log {main.log_path}):\n{main.log_tail(20)}")
        if not any(p.startswith("the main deliveryd exited") for p in test_session.problems):
            test_session.problems.append(msg)
        pytest.fail(msg, pytrace=False)
    yield


@pytest.fixture
def api(daemon):
    a = Api(daemon.url())
    yield a
    a.close()
