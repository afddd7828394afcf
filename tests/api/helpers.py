"""Small helpers shared by the API tests: an HTTP client bound to one daemon,
problem+json assertions, bounded polling, raw-socket HTTP and /metrics parsing."""

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
DELIVERYD_BIN = Path(os.environ.get("DELIVERYD_BIN") or REPO / "build-asan" / "deliveryd")
CORS_ORIGIN = "http://dashboard.test"


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



class Api:
    """A thin requests.Session around one daemon: paths are relative to its base URL.

    Proxies from the environment are ignored (trust_env off) so 127.0.0.1 is
    always reached directly. Every call has a timeout (30 s unless given).
    """

    def __init__(self, base_url, token=None):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def login(self, username, password):
        """POST /api/v1/auth/login; asserts 200 and returns the JSON body."""
        r = self.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, f"login as {username}: {r.status_code} {r.text}"
        return r.json()

    def as_user(self, username, password):
        """A new Api for the same daemon carrying that user's access token."""
        return Api(self.base, token=self.login(username, password)["access_token"])

    def close(self):
        self.session.close()


def http_get(url, **kw):
    """requests.get without proxies from the environment, with a timeout."""
    kw.setdefault("timeout", 10)
    with requests.Session() as s:
        s.trust_env = False
        return s.get(url, **kw)


def assert_problem(resp, status, code=None):
    """Asserts an RFC 9457 problem response and returns its JSON body."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/problem+json"), f"Content-Type {ctype!r}"
    body = resp.json()
    assert body.get("status") == status, body
    if code is not None:
        assert body.get("code") == code, body
    return body


def poll(fn, timeout, interval=0.2, what="condition"):
    """Calls fn until it returns something other than None or False, and
    returns that (a 503 requests.Response is falsy, hence not plain truth).
    Fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


# --- raw HTTP over a socket -------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.status_code = status
        self.reason = reason
        self.headers = headers  # lower-cased names
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers} {self.body[:200]!r}>"


def _parse_head(data):
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
    if not m:
        raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), m.group(2), headers, rest


def _dechunk(data):
    """Returns the decoded body, or None while the chunked body is incomplete."""
    out = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return None
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return out
        if len(rest) < size + 2:
            return None
        out += rest[:size]
        data = rest[size + 2:]


def read_http_response(sock, timeout=10):
    """Reads one HTTP/1.1 response from sock (bounded by timeout seconds in all).

    Raises AssertionError if the peer closes or times out before a status line."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            status, reason, headers, rest = _parse_head(data)
            if "content-length" in headers:
                if len(rest) >= int(headers["content-length"]):
                    return RawResponse(status, reason, headers, rest[: int(headers["content-length"])])
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                body = _dechunk(rest)
                if body is not None:
                    return RawResponse(status, reason, headers, body)
            elif status in (204, 304) or 100 <= status < 200:
                return RawResponse(status, reason, headers, b"")
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete HTTP response within {timeout} s; got {data[:300]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            if b"\r\n\r\n" in data:  # body delimited by close
                status, reason, headers, rest = _parse_head(data)
                return RawResponse(status, reason, headers, rest)
            raise AssertionError(f"connection closed before a response; got {data[:300]!r}")
        data += chunk


def raw_request(port, head, body_chunks=(), timeout=20):
    """Sends head (str/bytes) and then body_chunks from a second thread while
    this thread reads the response, as a browser does: a server that answers
    early (413 before the body is read) is seen even if it then closes or
    resets the connection. Send errors after the response started are ignored."""
    if isinstance(head, str):
        head = head.encode("latin-1")
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = {"bytes": 0, "error": None}

    def sender():
        try:
            sock.sendall(head)
            for chunk in body_chunks:
                sock.sendall(chunk)
                sent["bytes"] += len(chunk)
        except OSError as e:
            sent["error"] = e

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        return read_http_response(sock, timeout=timeout)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        t.join(timeout=5)


def is_served(port, timeout=2.0):
    """True if a new connection to port gets an HTTP response to GET /health
    within timeout; False if it is refused, reset, closed or left unanswered."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return False
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        s.settimeout(timeout)
        data = s.recv(64)
        return data.startswith(b"HTTP/")
    except OSError:
        return False
    finally:
        s.close()


# --- /metrics ---------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_samples(text, name):
    """[(labels_text, value)] for every sample of metric `name` in Prometheus text."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((m.group(2) or "", float(m.group(3))))
    return out


def metric_sum(text, name):
    return sum(v for _, v in metric_samples(text, name))
