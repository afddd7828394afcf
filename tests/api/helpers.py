"""Small helpers shared by the API tests: an HTTP client bound to one daemon,
problem+json assertions, bounded polling, raw-socket HTTP and /metrics parsing,
and the setup every area's helpers need (unique names, a logged-in Client,
JWTs, creating warehouses, users, drivers and orders through the API).

The per-area modules (orders_helpers, field_helpers, ops_helpers,
identity_helpers) import these and add only what their area needs."""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

V1 = "/api/v1"
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


def field_names(resp):
    """The set of `field` names of a 422 validation_failed problem."""
    body = assert_problem(resp, 422, "validation_failed")
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    return {e.get("field") for e in errors}


# --- unique names, phone numbers, timestamps ---------------------------------

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def uniq(prefix="x"):
    return f"{prefix}_{secrets.token_hex(4)}"


def kw_phone(first_digits="5"):
    """A random local 8-digit Kuwaiti mobile number starting with one of first_digits."""
    return secrets.choice(first_digits) + "".join(secrets.choice("0123456789") for _ in range(7))


def kuwait_local_phone():
    """A random 8-digit Kuwaiti mobile number (local form, starts with 5, 6 or 9)."""
    return kw_phone("569")


def strong_password():
    return "pw-" + secrets.token_urlsafe(12)


def is_ts(value):
    return isinstance(value, str) and bool(TS_RE.match(value))


def parse_ts(value):
    assert is_ts(value), f"not an RFC 3339 UTC time with Z: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- JWT ------------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(payload, secret, alg="HS256", header=None, signature=None):
    """A compact JWS. alg HS256/HS384/HS512 signs with secret; "none" leaves the
    signature empty (unless signature is given)."""
    hdr = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = b64url(json.dumps(hdr, separators=(",", ":"))) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")))
    if signature is None:
        digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        if alg in digests:
            sig = hmac.new(secret.encode(), signing_input.encode(), digests[alg]).digest()
            signature = b64url(sig)
        else:
            signature = ""
    return signing_input + "." + signature


def jwt_parts(token):
    """(header, payload) of a compact JWS, decoded."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def access_claims(user_id, role, ttl=900, now=None, **extra):
    now = int(time.time()) if now is None else now
    claims = {"sub": str(user_id), "role": role, "typ": "access", "iat": now, "exp": now + ttl}
    claims.update(extra)
    return claims


def mint_access_token(secret, user_id, role, ttl=3600):
    """An access token in the format API.md fixes (JWT HS256 signed with
    JWT_SECRET; claims sub (the user id as a string), role, typ, iat, exp)."""
    return make_jwt(access_claims(user_id, role, ttl=ttl), secret)


# --- a logged-in client -----------------------------------------------------------

def login(base, username, password):
    """POST /auth/login on a fresh anonymous Api (asserts 200) -> the body."""
    anon = Api(base)
    try:
        return anon.login(username, password)
    finally:
        anon.close()


class Client(Api):
    """An Api logged in as one user; logs in again before the 900 s access
    token runs out, so a long session keeps working. `user` is the login's
    user JSON. lazy=True: the first login happens at the first request."""

    RELOGIN_AFTER = 600

    def __init__(self, base, username, password, lazy=False):
        super().__init__(base)
        self.creds = (username, password)
        self.user = None
        self._since = None
        if not lazy:
            self._login()

    def _login(self):
        body = login(self.base, *self.creds)
        self.session.headers["Authorization"] = "Bearer " + body["access_token"]
        self.user = body["user"]
        self._since = time.monotonic()

    def request(self, method, path, **kw):
        if self._since is None or time.monotonic() - self._since > self.RELOGIN_AFTER:
            self._login()
        return super().request(method, path, **kw)

    @property
    def id(self):
        return self.user["id"]

    def ok(self, method, path, status=200, **kw):
        """Asserts the status and returns the JSON body (None for 204)."""
        r = self.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: expected {status}, got {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None


# --- creating things through the API ----------------------------------------------

def post_warehouse(admin, code_prefix="WH", name=None, **fields):
    """POST /warehouses (asserts 201) -> the warehouse JSON."""
    body = {"code": uniq(code_prefix).upper(),
            "name": ("Warehouse " + secrets.token_hex(3)) if name is None else name}
    body.update(fields)
    r = admin.post(V1 + "/warehouses", json=body)
    assert r.status_code == 201, f"POST /warehouses {body}: {r.status_code} {r.text}"
    return r.json()


def post_user(admin, role="manager", prefix=None, full_name=None, password=None, **fields):
    """POST /users (asserts 201) -> (user JSON, body sent)."""
    body = {"username": uniq(prefix or role), "password": password or strong_password(),
            "full_name": f"Test {role.title()}" if full_name is None else full_name, "role": role}
    body.update(fields)
    r = admin.post(V1 + "/users", json=body)
    assert r.status_code == 201, f"POST /users {body}: {r.status_code} {r.text}"
    return r.json(), body


def new_manager(admin, prefix="mgr", full_name=None, warehouse_id=None, client_class=Client):
    """A new manager (scoped when warehouse_id) -> (user JSON, a client_class
    logged in as them)."""
    fields = {} if warehouse_id is None else {"warehouse_id": warehouse_id}
    user, body = post_user(admin, "manager", prefix,
                           full_name or ("Manager " + secrets.token_hex(3)), **fields)
    return user, client_class(admin.base, body["username"], body["password"])


def driver_body(warehouse_id, prefix="drv", code_prefix="D", full_name=None, **fields):
    """The body of POST /drivers for a new driver with unique names."""
    body = {"username": uniq(prefix), "password": strong_password(),
            "full_name": ("Driver " + secrets.token_hex(3)) if full_name is None else full_name,
            "phone": kw_phone(),
            "code": uniq(code_prefix).upper(), "vehicle_type": "motorcycle",
            "warehouse_id": warehouse_id}
    body.update(fields)
    return body


def post_driver(client, body):
    """POST /drivers (asserts 201) -> the driver JSON."""
    r = client.post(V1 + "/drivers", json=body)
    assert r.status_code == 201, f"POST /drivers {body}: {r.status_code} {r.text}"
    return r.json()


def new_driver(admin, warehouse_id, login=True, client_class=Client, **body_fields):
    """A new driver -> (driver JSON, a client_class logged in as them, or None)."""
    body = driver_body(warehouse_id, **body_fields)
    d = post_driver(admin, body)
    return d, (client_class(admin.base, body["username"], body["password"]) if login else None)


def order_body(warehouse_id, **fields):
    """The body of POST /orders; a field given as ... is left out."""
    body = {"customer_name": "Customer " + secrets.token_hex(3),
            "customer_phone": kw_phone(),
            "warehouse_id": warehouse_id,
            "delivery_address": "Salmiya, Block 10, Street 5",
            "area": "Salmiya", "amount": "12.500", "payment_method": "cash"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def post_order(client, body):
    """POST /orders (asserts 201) -> the order JSON."""
    r = client.post(V1 + "/orders", json=body)
    assert r.status_code == 201, f"POST /orders {body}: {r.status_code} {r.text}"
    return r.json()


def must_act(client, oid, action, body=None):
    """POST /orders/{id}/{action} (asserts 200) -> the order JSON."""
    r = client.post(f"{V1}/orders/{oid}/{action}", json=body if body is not None else {})
    assert r.status_code == 200, f"{action} order {oid}: {r.status_code} {r.text}"
    order = r.json()
    if action == "assign":  # the order plus its warnings (API.md v1.1 "Dispatch aids")
        assert isinstance(order.pop("warnings"), list), order
    return order


def get_order(client, oid):
    r = client.get(f"{V1}/orders/{oid}")
    assert r.status_code == 200, f"GET order {oid}: {r.status_code} {r.text}"
    return r.json()


def steps_to(status, driver):
    """The (action, body) steps that bring a pending order to `status`
    (driver: the driver JSON to assign)."""
    return {
        "pending": [],
        "assigned": [("assign", {"driver_id": driver["id"]})],
        "picked_up": [("assign", {"driver_id": driver["id"]}), ("pickup", {})],
        "delivered": [("assign", {"driver_id": driver["id"]}), ("pickup", {}),
                      ("deliver", {})],
        "failed": [("assign", {"driver_id": driver["id"]}),
                   ("fail", {"reason": "nobody home"})],
        "cancelled": [("cancel", {"reason": "customer changed mind"})],
        "returned": [("assign", {"driver_id": driver["id"]}),
                     ("fail", {"reason": "nobody home"}), ("return", {})],
    }[status]


def bring_to(order, status, driver, act):
    """Takes `order` through steps_to(status, driver) with act(oid, action,
    body) -> order JSON; asserts it ends in `status` and returns it."""
    for action, body in steps_to(status, driver):
        order = act(order["id"], action, body)
    assert order["status"] == status, order
    return order


# --- settings -----------------------------------------------------------------

def get_settings(client):
    """GET /settings (asserts 200) -> the settings object."""
    r = client.get(V1 + "/settings")
    assert r.status_code == 200, r.text
    return r.json()


def put_setting(client, key, value):
    """PUT /settings/{key} (asserts 200) -> the body."""
    r = client.put(f"{V1}/settings/{key}", json={"value": value})
    assert r.status_code == 200, f"PUT /settings/{key} {value!r}: {r.status_code} {r.text}"
    return r.json()


def set_setting(world, key, value):
    """PUT /settings/{key} as world.admin (asserts 200)."""
    return put_setting(world.admin, key, value)


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
