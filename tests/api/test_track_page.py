"""GET /t/{token}: the tracking page a customer opens from a text message
(API.md "Customer tracking page", issue 18 part 5).

Server-rendered HTML from the statement of GET /api/v1/track/{token}: order
number, status and its timeline, ETA in business_timezone (Asia/Kuwait here),
the driver's first name and nothing more personal. Arabic right to left by
default, English with ?lang=en or an Accept-Language that prefers it. No
external resource, a CSP that forbids them, no-store, nosniff, no-referrer;
a meta refresh while the order is not terminal; a 404 page for an unknown
token. The HTML is parsed with html.parser; one test opens the page in
headless Chromium (Debian's chromium) and checks what a person sees."""

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from datetime import datetime
from html.parser import HTMLParser

import pytest

from helpers import Api
from ops_helpers import *  # noqa: F401,F403

EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
AR_MONTHS = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
             "أكتوبر", "نوفمبر", "ديسمبر"]
LABELS = {  # status -> (Arabic, English)
    "pending": ("تم استلام طلبك", "Order received"),
    "assigned": ("تم تعيين مندوب التوصيل", "Driver assigned"),
    "picked_up": ("في الطريق إليك", "On the way"),
    "delivered": ("تم التوصيل", "Delivered"),
    "failed": ("تعذّر التوصيل", "Delivery attempt failed"),
    "cancelled": ("تم إلغاء الطلب", "Cancelled"),
    "returned": ("أُعيد الطلب إلى الصيدلية", "Returned to the pharmacy"),
}
VOID = {"meta", "link", "br", "img", "input", "hr", "source", "area", "base", "col", "embed",
        "param", "track", "wbr"}


class Page(HTMLParser):
    """The parts of the page the tests read: every start tag with its
    attributes, the text of each element that has an id, the timeline's
    items (label, datetime, shown time), the visible text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []          # (tag, attrs dict)
        self.by_id = {}         # id -> text
        self.items = []         # [{"label", "datetime", "time"}]
        self.title = ""
        self.h1 = ""
        self.visible = []
        self._stack = []        # (tag, id)
        self._item = None
        self._in = {}
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "li":
            self._item = {"label": "", "datetime": None, "time": ""}
            self.items.append(self._item)
        if tag == "time" and self._item is not None:
            self._item["datetime"] = a.get("datetime")
        if tag not in VOID:
            self._stack.append((tag, a.get("id"), a.get("class", "")))

    def handle_endtag(self, tag):
        while self._stack:
            t, _, _ = self._stack.pop()
            if t == tag:
                break
        if tag == "li":
            self._item = None

    def handle_data(self, data):
        tags = [t for t, _, _ in self._stack]
        for _, ident, _ in self._stack:
            if ident:
                self.by_id[ident] = self.by_id.get(ident, "") + data
        if "title" in tags:
            self.title += data
        if "h1" in tags:
            self.h1 += data
        if self._item is not None:
            if "time" in tags:
                self._item["time"] += data
            elif any("label" in c.split() for _, _, c in self._stack):
                self._item["label"] += data
        if "style" not in tags and "title" not in tags:
            self.visible.append(data)

    @property
    def text(self):
        return " ".join(" ".join(self.visible).split())

    def first(self, tag):
        return next((a for t, a in self.tags if t == tag), None)

    def all(self, tag):
        return [a for t, a in self.tags if t == tag]

    def refresh(self):
        return [a for a in self.all("meta") if (a.get("http-equiv") or "").lower() == "refresh"]


def kuwait_text(utc, lang):
    """'17:05, 5 Dec' / '17:05، 5 ديسمبر' for an RFC 3339 UTC time."""
    t = parse_ts(utc).astimezone(KUWAIT)
    month = (EN_MONTHS if lang == "en" else AR_MONTHS)[t.month - 1]
    comma = ", " if lang == "en" else "، "
    return f"{t:%H:%M}{comma}{t.day} {month}"


@pytest.fixture(scope="module")
def tp(ops):
    class T:
        pass
    t = T()
    t.wh = ops.warehouse()
    t.mgr = ops.manager(t.wh["id"])
    t.drv, t.drv_client = ops.driver(t.wh["id"], full_name="Ahmad Al-Enezi")
    t.anon = Api(t.mgr.base)
    yield t
    t.anon.close()


def page(tp, token, status=200, **kw):
    r = tp.anon.get(f"/t/{token}", **kw)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "text/html; charset=utf-8", r.headers
    assert r.encoding is None or r.encoding.lower() == "utf-8"
    r.encoding = "utf-8"
    return r, Page(r.text)


def assert_page_headers(r):
    csp = r.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == ["'none'"], csp
    for name in ("script-src", "connect-src", "font-src", "frame-src"):
        assert name not in directives, csp   # falls back to default-src 'none'
    assert directives.get("style-src") == ["'unsafe-inline'"], csp
    assert directives.get("img-src") in (None, ["data:"], ["'none'"]), csp
    assert directives.get("base-uri") == ["'none'"] and directives.get("form-action") == ["'none'"]
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Referrer-Policy") == "no-referrer"
    assert "accept-language" in r.headers.get("Vary", "").lower()


def assert_self_contained(r, p):
    """Nothing the browser would fetch from elsewhere, no script at all."""
    assert not p.all("script") and "<script" not in r.text.lower()
    for tag, a in p.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            v = (a.get(name) or "").strip().lower()
            assert not re.match(r"^(https?:)?//|^[a-z][a-z0-9+.-]*:(?!,)", v) or v.startswith("data:"), \
                f"<{tag} {name}={v!r}>"
    assert not re.search(r"url\(|@import", r.text, re.I), "a stylesheet reference"
    assert "http://" not in r.text and "https://" not in r.text and "//" not in r.text.replace(
        "<!DOCTYPE", "")


# --- the page ------------------------------------------------------------------------------

def test_page_shows_number_status_timeline_eta_in_kuwait_time(ops, tp):
    eta = "2026-12-05T14:00:00Z"  # 17:00 in Kuwait (UTC+3, no DST)
    o = ops.new_order(tp.mgr, tp.wh["id"], estimated_delivery_time=eta)
    r, p = page(tp, o["tracking_token"])
    assert_page_headers(r)
    assert r.headers.get("Content-Language") == "ar"
    html = p.first("html")
    assert html == {"lang": "ar", "dir": "rtl"}, html
    assert r.text.startswith("<!DOCTYPE html>")
    assert p.first("meta").get("charset") == "utf-8"
    assert any(a.get("name") == "viewport" and "width=device-width" in a.get("content", "")
               for a in p.all("meta"))
    assert o["order_number"] in p.h1 and o["order_number"] in p.title
    assert p.by_id["status"] == LABELS["pending"][0]
    assert p.by_id["eta"] == "17:00، 5 ديسمبر", p.by_id
    assert "driver" not in p.by_id  # nobody assigned yet
    assert [i["label"] for i in p.items] == [LABELS["pending"][0]]
    assert_self_contained(r, p)

    r, p = page(tp, o["tracking_token"], params={"lang": "en"})
    assert p.first("html") == {"lang": "en", "dir": "ltr"}
    assert r.headers.get("Content-Language") == "en"
    assert p.by_id["status"] == "Order received"
    assert p.by_id["eta"] == "17:00, 5 Dec"


def test_timeline_follows_the_order_and_shows_driver_first_name_only(ops, tp):
    o = ops.new_order(tp.mgr, tp.wh["id"], estimated_delivery_time="2026-07-01T21:30:00Z")
    ops.must(tp.mgr, o["id"], "assign", {"driver_id": tp.drv["id"]})
    ops.must(tp.drv_client, o["id"], "pickup")
    track = tp.anon.get(f"{V1}/track/{o['tracking_token']}").json()  # the same statement
    for lang, k in (("ar", 0), ("en", 1)):
        r, p = page(tp, o["tracking_token"], params={"lang": lang})
        assert p.by_id["status"] == LABELS["picked_up"][k]
        assert p.by_id["driver"] == "Ahmad", p.by_id
        assert "Enezi" not in r.text
        # 21:30Z is 00:30 the next day in Kuwait
        assert p.by_id["eta"] == ("00:30, 2 Jul" if lang == "en" else "00:30، 2 يوليو")
        assert [i["label"] for i in p.items] == [LABELS[s][k] for s in
                                                  ("pending", "assigned", "picked_up")]
        assert [i["datetime"] for i in p.items] == [e["at"] for e in track["events"]]
        for i in p.items:
            assert i["time"] == kuwait_text(i["datetime"], lang), i
        current = [a for a in p.all("li") if "now" in a.get("class", "").split()]
        assert len(current) == 1 and p.all("li")[-1] is current[0]
    ops.must(tp.drv_client, o["id"], "deliver")
    r, p = page(tp, o["tracking_token"])
    assert p.by_id["status"] == LABELS["delivered"][0]
    assert [i["label"] for i in p.items][-1] == LABELS["delivered"][0]
    assert "eta" not in p.by_id  # delivered: the timeline says when
    # who delivered it stays shown (order_action_from('track_driver'), as the JSON says)
    assert p.by_id["driver"] == "Ahmad"
    assert tp.anon.get(f"{V1}/track/{o['tracking_token']}").json()["driver_first_name"] == "Ahmad"


def test_nothing_personal_on_the_page(ops, tp):
    name, phone = "Maryam Private-Person", kw_phone()
    o = ops.new_order(tp.mgr, tp.wh["id"], customer_name=name, customer_phone=phone,
                      delivery_address="Jabriya, Block 1A, Street 93, House 7",
                      area="Jabriya", amount="37.125", payment_method="cash",
                      estimated_delivery_time="2026-12-05T14:00:00Z")
    ops.must(tp.mgr, o["id"], "assign", {"driver_id": tp.drv["id"]})
    for params in ({}, {"lang": "en"}):
        r, p = page(tp, o["tracking_token"], params=params)
        body = r.text
        for secret in (name, "Maryam", phone, o["customer_phone"], o["customer_phone"][-8:],
                       "Jabriya", "House 7", "37.125", "37.1", "Al-Enezi", "Enezi",
                       o["tracking_token"]):
            assert secret not in body, f"{secret!r} is on the page"
        assert p.by_id["driver"] == "Ahmad"


def test_escapes_what_comes_from_the_database(ops, tp):
    number = ops.number() + 'A<b>&"1\'<script>x</script>'
    drv, drv_client = ops.driver(tp.wh["id"], full_name="O'Neil&<i>x\" Smith")
    o = ops.new_order(tp.mgr, tp.wh["id"], order_number=number)
    assert o["order_number"] == number
    ops.must(tp.mgr, o["id"], "assign", {"driver_id": drv["id"]})
    r, p = page(tp, o["tracking_token"])
    assert number in p.h1 and number in p.title, (p.h1, p.title)
    assert p.by_id["driver"] == "O'Neil&<i>x\"", p.by_id
    assert not any(t in ("b", "i", "script") for t, _ in p.tags), [t for t, _ in p.tags]
    assert "A&lt;b&gt;&amp;&quot;1&#39;&lt;script&gt;" in r.text
    assert "O&#39;Neil&amp;&lt;i&gt;x&quot;" in r.text
    assert "<script" not in r.text


@pytest.mark.parametrize("header,lang", [
    ("en-US,en;q=0.9,ar;q=0.8", "en"),
    ("ar,en;q=0.5", "ar"),
    ("en", "en"),
    ("EN-gb", "en"),
    ("fr-FR,fr;q=0.9,en;q=0.8", "en"),      # English is the best of what we have
    ("fr-FR,fr;q=0.9", "ar"),                # neither: Arabic
    ("ar-KW;q=0.9, en;q=0.9", "ar"),        # a tie: the one listed first
    ("en;q=0.9, ar-KW;q=0.9", "en"),
    ("ar;q=0.4, en-US;q=0.6", "en"),
    ("en;q=0, ar", "ar"),                    # q=0: not acceptable
    ("en;q=0", "ar"),
    ("*;q=0.8, en;q=0.5", "ar"),             # * stands for Arabic when it is not named
    ("en;q=bogus, ar;q=0.1", "ar"),          # a malformed q drops that item
    ("", "ar"),
    (",,;;q=,", "ar"),
])
def test_language_from_accept_language(ops, tp, header, lang):
    o = tp.__dict__.setdefault("lang_order", ops.new_order(tp.mgr, tp.wh["id"]))
    r, p = page(tp, o["tracking_token"], headers={"Accept-Language": header})
    assert p.first("html") == {"lang": lang, "dir": "rtl" if lang == "ar" else "ltr"}, header
    assert p.by_id["status"] == LABELS["pending"][0 if lang == "ar" else 1]


def test_lang_parameter_wins_over_accept_language(ops, tp):
    o = ops.new_order(tp.mgr, tp.wh["id"])
    r, p = page(tp, o["tracking_token"], params={"lang": "ar"},
                headers={"Accept-Language": "en-US,en;q=0.9"})
    assert p.first("html")["lang"] == "ar"
    r, p = page(tp, o["tracking_token"], params={"lang": "en"},
                headers={"Accept-Language": "ar"})
    assert p.first("html")["lang"] == "en"
    # an unknown ?lang falls back to the header, then to Arabic
    r, p = page(tp, o["tracking_token"], params={"lang": "fr"},
                headers={"Accept-Language": "en"})
    assert p.first("html")["lang"] == "en"
    r, p = page(tp, o["tracking_token"], params={"lang": "xx"})
    assert p.first("html")["lang"] == "ar"
    # the other language is one tap away, on the same page
    links = [a for a in p.all("a")]
    assert [a["href"] for a in links] == ["?lang=en"]


@pytest.mark.parametrize("status,open_", [
    ("pending", True), ("assigned", True), ("picked_up", True), ("failed", True),
    ("delivered", False), ("cancelled", False), ("returned", False),
])
def test_refreshes_while_the_order_is_open(ops, tp, status, open_):
    o = ops.order_in(tp.mgr, tp.wh["id"], status, tp.drv)
    r, p = page(tp, o["tracking_token"])
    assert p.by_id["status"] == LABELS[status][0]
    metas = p.refresh()
    if open_:
        assert [m.get("content") for m in metas] == ["60"], metas
    else:
        assert metas == [], metas
    assert_page_headers(r)


@pytest.mark.parametrize("token", ["0" * 64, "nope", "x" * 300, "a%3Cb%3E", "%FF%FE",
                                   "abc%00def", "abc;def", "abc.def"])
def test_unknown_or_malformed_token_is_a_404_page(ops, tp, token):
    r, p = page(tp, token, status=404)
    assert_page_headers(r)
    assert p.first("html") == {"lang": "ar", "dir": "rtl"}
    assert "لم نجد هذا الطلب" in p.h1
    assert p.refresh() == []
    assert_self_contained(r, p)
    assert "problem" not in r.headers["Content-Type"] and not r.text.lstrip().startswith("{")
    r, p = page(tp, token, status=404, params={"lang": "en"})
    assert p.first("html")["lang"] == "en" and p.h1 == "Order not found"


def test_a_token_one_character_off_is_404(ops, tp):
    o = ops.new_order(tp.mgr, tp.wh["id"])
    t = o["tracking_token"]
    for other in (t[:-1], t + "0", t.upper() if t.upper() != t else "X" + t[1:], o["order_number"]):
        page(tp, other, status=404)


def test_head_and_methods(ops, tp):
    o = ops.new_order(tp.mgr, tp.wh["id"])
    g = tp.anon.get(f"/t/{o['tracking_token']}")
    h = tp.anon.head(f"/t/{o['tracking_token']}")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Type"] == "text/html; charset=utf-8"
    assert h.headers["Content-Security-Policy"] == g.headers["Content-Security-Policy"]
    assert int(h.headers["Content-Length"]) == len(g.content)
    h = tp.anon.head("/t/" + "0" * 64)
    assert h.status_code == 404 and h.headers["Content-Type"].startswith("text/html")
    r = tp.anon.post(f"/t/{o['tracking_token']}", data=b"")
    assert r.status_code == 405 and "GET" in r.headers.get("Allow", "")


def test_rate_limited_like_other_public_routes(ops, tp):
    o = ops.new_order(tp.mgr, tp.wh["id"])
    r = tp.anon.get(f"/t/{o['tracking_token']}")
    assert int(r.headers["RateLimit-Limit"]) > 0
    left = int(r.headers["RateLimit-Remaining"])
    r = tp.anon.get(f"/t/{o['tracking_token']}")
    assert int(r.headers["RateLimit-Remaining"]) < left


def test_json_route_keeps_its_fields(ops, tp):
    """The page reads the JSON route's statement; the JSON stays as it was."""
    o = ops.new_order(tp.mgr, tp.wh["id"], estimated_delivery_time="2026-12-05T14:00:00Z")
    r = tp.anon.get(f"{V1}/track/{o['tracking_token']}")
    assert r.status_code == 200 and set(r.json()) == TRACK_KEYS, r.text
    assert r.json()["estimated_delivery_time"] == "2026-12-05T14:00:00Z"


# --- in a browser ----------------------------------------------------------------------------

def chromium_bin():
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium")
                                        else None)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):  # as scripts/deps would
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                     "fonts-dejavu-core"]):
            try:
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=600, env=env)
            except subprocess.TimeoutExpired:
                break
    path = shutil.which("chromium")
    if not path:
        pytest.skip("chromium is not installed and could not be installed (scripts/deps installs it)")
    return path


def run_chromium(args, url):
    with tempfile.TemporaryDirectory(prefix="deliveryd-chromium-") as profile:
        cmd = [chromium_bin(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args, url]
        try:
            return subprocess.run(cmd, capture_output=True, timeout=30, cwd=profile,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"chromium did not finish within 30 s: {e.stderr!r}")


def png_size_and_colours(path):
    """(width, height, distinct pixel values seen) of an 8-bit RGB(A) PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    w = h = depth = ctype = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}.get(ctype)
    assert depth == 8 and bpp, (depth, ctype)
    stride = w * bpp
    colours, prev = set(), bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filters
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            colours.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp * 3))
        prev = line
    return w, h, colours


def test_a_browser_shows_the_status_right_to_left_without_errors(ops, tp, tmp_path):
    o = ops.new_order(tp.mgr, tp.wh["id"], estimated_delivery_time="2026-12-05T14:00:00Z")
    ops.must(tp.mgr, o["id"], "assign", {"driver_id": tp.drv["id"]})
    ops.must(tp.drv_client, o["id"], "pickup")
    url = f"{tp.anon.base}/t/{o['tracking_token']}"

    # a phone set to Arabic (Kuwait); headless Chromium otherwise sends
    # "en-US,en;q=0.9", which rightly gets the English page
    run = run_chromium(["--accept-lang=ar-KW,ar", "--dump-dom"], url)
    dom, err = run.stdout.decode("utf-8", "replace"), run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0, err[-2000:]
    p = Page(dom)
    assert p.first("html").get("dir") == "rtl" and p.first("html").get("lang") == "ar", dom[:300]
    assert p.by_id.get("status") == "في الطريق إليك", dom
    assert p.by_id.get("driver") == "Ahmad"
    assert p.by_id.get("eta") == "17:00، 5 ديسمبر"
    for bad in ("Uncaught", "Refused to", "Content Security Policy", "Failed to load resource"):
        assert bad not in err, f"{bad!r} in chromium's log:\n{err[-3000:]}"

    shot = tmp_path / "page.png"
    run = run_chromium(["--accept-lang=ar-KW,ar", f"--screenshot={shot}", "--window-size=390,844",
                        "--hide-scrollbars"], url)
    err = run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0 and shot.exists(), err[-2000:]
    for bad in ("Uncaught", "Refused to", "Content Security Policy"):
        assert bad not in err, f"{bad!r} in chromium's log:\n{err[-3000:]}"
    w, h, colours = png_size_and_colours(shot)
    assert (w, h) == (390, 844), (w, h)
    # text, cards and the status colour: far more than a blank page's one or two
    assert len(colours) > 20, len(colours)
    run = run_chromium(["--dump-dom"], url)  # Chromium's own en-US
    assert Page(run.stdout.decode()).first("html") == {"lang": "en", "dir": "ltr"}
    if os.environ.get("TRACK_PAGE_SHOT"):
        shutil.copy(shot, os.environ["TRACK_PAGE_SHOT"])
