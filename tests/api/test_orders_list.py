"""GET /orders: the paged envelope, every filter (status list, warehouse,
driver, q by each kind of key, created_from/created_to, archived), sort,
the page-size cap, and who sees what (drivers their own orders, scoped
managers their warehouse's). Every query is confined to this module's own
warehouse, so other tests' orders never matter."""

import secrets

import pytest

from orders_helpers import *  # noqa: F401,F403 - fixtures and helpers

# letters only: a q of digits must never match the tag
TAG = "".join(secrets.choice("ghjkmnpqrstvwxyz") for _ in range(6))


@pytest.fixture(scope="module")
def lw(ow):
    """A warehouse of its own with two drivers, a scoped manager and ten orders
    with known names, phones, addresses, statuses and creation times."""
    wh = ow.warehouse()
    other_wh = ow.warehouse()
    dl1, cl1 = ow.driver(wh["id"])
    dl2, cl2 = ow.driver(wh["id"])
    mgr_user, mgr = ow.manager(wh["id"])
    W = wh["id"]
    phone1 = "5" + "".join(secrets.choice("0123456789") for _ in range(7))
    specs = [
        # key, fields, status, driver, created_at (UTC)
        ("alpha", dict(order_number=f"LST-{TAG}-001", customer_name=f"Ahmed Alpha {TAG}",
                       customer_phone=phone1, delivery_address="Qurain, Block 3, Street 7",
                       area="Qurain"), "pending", None, "2024-03-01T10:00:00Z"),
        ("arabic", dict(order_number=f"LST-{TAG}-002", customer_name=f"محمد العلي {TAG}",
                        delivery_address=..., area=f"Jabriya{TAG}"), "assigned", dl1,
         "2024-03-01T22:00:00Z"),  # 2024-03-02 01:00 in Kuwait
        ("pct", dict(order_number=f"LST-{TAG}-003", customer_name=f"Sale 50%_x {TAG}"),
         "delivered", dl1, "2024-03-02T10:00:00Z"),
        ("nopct", dict(order_number=f"LST-{TAG}-004", customer_name=f"Sale 50abx {TAG}"),
         "delivered", dl2, "2024-03-03T10:00:00Z"),
        ("under", dict(order_number=f"LST-{TAG}-005", customer_name=f"Name a_c {TAG}"),
         "failed", dl2, "2024-03-04T10:00:00Z"),
        ("abc", dict(order_number=f"LST-{TAG}-006", customer_name=f"Name abc {TAG}"),
         "cancelled", None, "2024-03-05T10:00:00Z"),
        ("picked", dict(order_number=f"LST-{TAG}-007", customer_name=f"Plain picked {TAG}"), "picked_up", dl2,
         "2024-03-06T10:00:00Z"),
        ("returned", dict(order_number=f"LST-{TAG}-008", customer_name=f"Plain returned {TAG}"), "returned", dl1,
         "2024-03-07T10:00:00Z"),
        ("archived", dict(order_number=f"LST-{TAG}-009", customer_name=f"Plain archived {TAG}"), "delivered", dl1,
         "2024-03-08T10:00:00Z"),
        ("p2", dict(order_number=f"LST-{TAG}-010", customer_name=f"Zed {TAG}"), "pending", None,
         "2024-03-09T10:00:00Z"),
    ]
    orders = {}
    for key, fields, status, drv, created in specs:
        o = ow.order_in(status, driver=drv or dl1, warehouse_id=W, **fields)
        ow.pg.sql(f"UPDATE orders SET created_at = '{created}' WHERE id = {o['id']}")
        orders[key] = o["id"]
    # distinct delivery times for the -delivered_at sort
    ow.pg.sql(f"UPDATE orders SET delivered_at = picked_up_at + interval '10 minutes' "
              f"WHERE id = {orders['pct']}")
    ow.pg.sql(f"UPDATE orders SET delivered_at = picked_up_at + interval '20 minutes' "
              f"WHERE id = {orders['nopct']}")
    ow.pg.sql(f"UPDATE orders SET is_archived = true, archived_at = now() "
              f"WHERE id = {orders['archived']}")
    foreign = ow.order_in("assigned", driver=ow.d3, warehouse_id=other_wh["id"],
                          customer_name=f"Foreign {TAG}")
    w = dict(wh=wh, other_wh=other_wh, dl1=dl1, dl2=dl2, cl1=cl1, cl2=cl2, mgr=mgr,
             mgr_user=mgr_user, ids=orders, phone1=phone1, foreign=foreign)
    yield w
    for c in (cl1, cl2, mgr):
        c.close()


def listing(client, **params):
    r = client.get(V1 + "/orders", params=params)
    assert r.status_code == 200, f"GET /orders {params}: {r.status_code} {r.text}"
    body = r.json()
    assert set(body) >= {"items", "page", "page_size", "total"}, body
    assert isinstance(body["items"], list) and isinstance(body["total"], int)
    return body


def ids_of(body):
    return [o["id"] for o in body["items"]]


def mine(ow, lw, client=None, **params):
    """ids listed for this module's warehouse (one page of up to 200)."""
    params.setdefault("warehouse_id", lw["wh"]["id"])
    params.setdefault("page_size", 200)
    body = listing(client or ow.mgr, **params)
    assert body["total"] == len(body["items"]), body
    return ids_of(body)


def keys(lw, *names):
    return {lw["ids"][n] for n in names}


LIVE = ["alpha", "arabic", "pct", "nopct", "under", "abc", "picked", "returned", "p2"]


# --- envelope and items -----------------------------------------------------------------

def test_envelope_and_items(ow, lw):
    body = listing(ow.mgr, warehouse_id=lw["wh"]["id"], page_size=200)
    assert body["page"] == 1 and body["page_size"] == 200
    assert body["total"] == len(LIVE)
    assert set(ids_of(body)) == keys(lw, *LIVE)
    for item in body["items"]:
        assert_order_shape(item)
        assert item["warehouse_id"] == lw["wh"]["id"]
        assert item == ow.get(item["id"])


def test_warehouse_filter_excludes_others(ow, lw):
    ids = mine(ow, lw)
    assert lw["foreign"]["id"] not in ids
    other = mine(ow, lw, warehouse_id=lw["other_wh"]["id"])
    assert other == [lw["foreign"]["id"]]


# --- status, driver ------------------------------------------------------------------

@pytest.mark.parametrize("status,names", [
    ("pending", ["alpha", "p2"]),
    ("assigned", ["arabic"]),
    ("picked_up", ["picked"]),
    ("delivered", ["pct", "nopct"]),
    ("failed", ["under"]),
    ("cancelled", ["abc"]),
    ("returned", ["returned"]),
    ("assigned,failed", ["arabic", "under"]),
    ("pending,delivered,returned", ["alpha", "p2", "pct", "nopct", "returned"]),
])
def test_status_filter(ow, lw, status, names):
    assert set(mine(ow, lw, status=status)) == keys(lw, *names)


@pytest.mark.parametrize("bad", ["done", "pending,nope", "PENDING"])
def test_unknown_status_is_422(ow, lw, bad):
    r = ow.mgr.get(V1 + "/orders", params={"status": bad})
    assert "status" in field_names(r)


def test_driver_filter(ow, lw):
    assert set(mine(ow, lw, driver_id=lw["dl1"]["id"])) == keys(lw, "arabic", "pct", "returned")
    assert set(mine(ow, lw, driver_id=lw["dl2"]["id"])) == keys(lw, "nopct", "under", "picked")
    assert set(mine(ow, lw, driver_id=lw["dl1"]["id"], status="delivered")) == keys(lw, "pct")


@pytest.mark.parametrize("param", ["warehouse_id", "driver_id", "page", "page_size"])
@pytest.mark.parametrize("bad", ["abc", "-1", "0", "1.5"])
def test_bad_numeric_params_are_422(ow, lw, param, bad):
    assert param in field_names(ow.mgr.get(V1 + "/orders", params={param: bad}))


# --- q -------------------------------------------------------------------------------

@pytest.mark.parametrize("q,names", [
    (f"LST-{TAG}-001", ["alpha"]),                  # order number
    (f"lst-{TAG}-00", [k for k in LIVE if k != "p2"]),  # order number prefix, other case
    (f"ahmed ALPHA {TAG}", ["alpha"]),              # customer name, case-insensitive
    ("محمد العلي", ["arabic"]),                     # Arabic name
    ("العلي", ["arabic"]),
    ("qurain, block 3", ["alpha"]),                 # delivery address
    (f"JABRIYA{TAG}", ["arabic"]),                  # area
    ("50%_x", ["pct"]),                             # % and _ are literal
    ("a_c", ["under"]),
    ("%", ["pct"]),
    ("_", ["under", "pct"]),
    ("nothing-like-this-" + TAG, []),
])
def test_q_search(ow, lw, q, names):
    assert set(mine(ow, lw, q=q)) == keys(lw, *names)


def test_q_phone_digits_anywhere(ow, lw):
    p = lw["phone1"]  # local 8 digits of "alpha"
    for q in (p, p[2:7], p[3:], p[:4], "+965" + p, "965 " + p[:4] + "-" + p[4:], p[1:5]):
        ids = mine(ow, lw, q=q)
        assert lw["ids"]["alpha"] in ids, q
        for oid in ids:
            digits = "".join(ch for ch in ow.get(oid)["customer_phone"] if ch.isdigit())
            wanted = "".join(ch for ch in q if ch.isdigit())
            assert wanted in digits, (q, oid)


def test_q_phone_typed_with_arabic_indic_digits(ow, lw):
    """A phone typed on an Arabic keyboard (U+0660-U+0669) or in the
    extended forms (U+06F0-U+06F9) searches as the same digits: 4 digits,
    the 6-digit window lookup, and the whole number."""
    p = lw["phone1"]
    arabic = "".join(chr(0x660 + int(ch)) for ch in p)
    extended = "".join(chr(0x6F0 + int(ch)) for ch in p)
    for q in (arabic[:4], arabic[1:7], arabic, extended[2:], "+\u0669\u0666\u0665 " + arabic):
        assert lw["ids"]["alpha"] in mine(ow, lw, q=q), q


def test_q_phone_dialled_with_00_matches_the_plus_form(ow, lw):
    """Customers give their number as 00965 ...; it is stored as +965 ..."""
    p = lw["phone1"]
    for q in ("00965" + p, "00965 " + p[:4] + " " + p[4:], "(00965) " + p):
        ids = mine(ow, lw, q=q)
        assert lw["ids"]["alpha"] in ids, q
        for oid in ids:
            digits = "".join(ch for ch in ow.get(oid)["customer_phone"] if ch.isdigit())
            assert "965" + p in digits, (q, oid)


def test_q_of_six_or_more_digits_finds_every_kind_of_key(ow):
    """A digits-only q of 6+ characters first looks up its 6-digit windows
    (migration 0014), then keeps the LIKE: it finds digits inside an order
    number, a PACI number with a leading zero, a street, and a phone across
    its 965 prefix, and not an order that has both windows of q in separate
    places but not q itself."""
    wh = ow.warehouse()

    def rnd(n):
        return "".join(secrets.choice("123456789") for _ in range(n))

    num, paci, street, q7 = rnd(9), "0" + rnd(9), rnd(6), rnd(7)
    phone = "9" + rnd(7)
    made = {
        "number": ow.new_order(warehouse_id=wh["id"], order_number=f"SO-{num}"),
        "paci": ow.new_order(warehouse_id=wh["id"], paci_number=paci),
        "street": ow.new_order(warehouse_id=wh["id"], street=f"St {street}",
                               delivery_address=f"Block 4, Street {q7}"),
        "phone": ow.new_order(warehouse_id=wh["id"], customer_phone=phone),
        # both 6-digit windows of q7, but never q7 in one piece
        "decoy": ow.new_order(warehouse_id=wh["id"],
                              order_number=f"DC-{q7[:6]}-{q7[1:]}-{rnd(3)}"),
    }
    ids = {k: o["id"] for k, o in made.items()}
    cases = [
        (num, ["number"]), (num[2:9], ["number"]), (num[:6], ["number"]),
        (paci[:7], ["paci"]), (paci, ["paci"]),
        (street, ["street"]), (q7, ["street"]), (q7[:6], ["street", "decoy"]),
        ("965" + phone[:5], ["phone"]), (phone[1:7], ["phone"]), (phone, ["phone"]),
        (num[:6] + "0", []),
    ]
    for q, names in cases:
        body = listing(ow.mgr, warehouse_id=wh["id"], q=q, page_size=200)
        assert set(ids_of(body)) == {ids[n] for n in names}, (q, names, body["total"])
        assert body["total"] == len(names), (q, body["total"])


def test_a_digit_search_that_fails_leaves_the_connection_working(ow):
    """A digit search runs on a kept generic plan: plan_cache_mode is set
    around it in one pipeline (db.c). One that PostgreSQL refuses (a day
    that does not exist passes the shape check, then fails the cast) is a
    422, and the next statements on the same connection (one client keeps
    one connection, so one worker and one PostgreSQL session) still work:
    a digit search, a text search, a write, and a digit search that sees
    the write."""
    wh = ow.warehouse()
    phone = "9" + "".join(secrets.choice("123456789") for _ in range(7))
    first = ow.new_order(warehouse_id=wh["id"], customer_phone=phone)
    q = phone[1:7]
    for _ in range(3):
        r = ow.mgr.get(V1 + "/orders", params={"warehouse_id": wh["id"], "q": q,
                                                "created_from": "2024-02-30"})
        assert_problem(r, 422, "validation_failed")
        assert ids_of(listing(ow.mgr, warehouse_id=wh["id"], q=q)) == [first["id"]]
        assert ids_of(listing(ow.mgr, warehouse_id=wh["id"],
                              q=first["order_number"])) == [first["id"]]
    second = ow.new_order(warehouse_id=wh["id"], customer_phone=phone)
    body = listing(ow.mgr, warehouse_id=wh["id"], q=q)
    assert ids_of(body) == [second["id"], first["id"]] and body["total"] == 2


def test_q_is_combined_with_other_filters(ow, lw):
    assert set(mine(ow, lw, q=f"Sale 50", status="delivered")) == keys(lw, "pct", "nopct")
    assert set(mine(ow, lw, q=f"Sale 50", driver_id=lw["dl2"]["id"])) == keys(lw, "nopct")
    assert mine(ow, lw, q=f"Foreign {TAG}") == []


# --- created_from / created_to ------------------------------------------------------------

@pytest.mark.parametrize("params,names", [
    ({"created_from": "2024-03-02T10:00:00Z"},
     ["pct", "nopct", "under", "abc", "picked", "returned", "p2"]),       # inclusive
    ({"created_to": "2024-03-02T10:00:00Z"}, ["alpha", "arabic"]),         # exclusive
    ({"created_from": "2024-03-02T10:00:00Z", "created_to": "2024-03-04T10:00:00Z"},
     ["pct", "nopct"]),
    ({"created_from": "2024-03-02T13:00:00+03:00", "created_to": "2024-03-02T13:00:01+03:00"},
     ["pct"]),
    # dates are business days in Asia/Kuwait: 2024-03-01T22:00Z is 2 March there
    ({"created_from": "2024-03-02"}, ["arabic", "pct", "nopct", "under", "abc", "picked",
                                      "returned", "p2"]),
    ({"created_to": "2024-03-02"}, ["alpha"]),
    ({"created_from": "2024-03-02", "created_to": "2024-03-03"}, ["arabic", "pct"]),
    ({"created_from": "2024-03-10"}, []),
])
def test_created_range(ow, lw, params, names):
    assert set(mine(ow, lw, **params)) == keys(lw, *names)


@pytest.mark.parametrize("param", ["created_from", "created_to"])
@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", "2024-02-30x", "01/03/2024",
                                 "2024-02-30", "2023-02-29", "0000-01-01",
                                 "2024-01-01T00:00:00+16:00", "2024-01-01T00:00:00+99:99"])
def test_bad_created_range_is_422(ow, lw, param, bad):
    assert param in field_names(ow.mgr.get(V1 + "/orders", params={param: bad}))


# --- archived ------------------------------------------------------------------------------

def test_archived_filter(ow, lw):
    arch = lw["ids"]["archived"]
    assert arch not in mine(ow, lw)
    assert arch not in mine(ow, lw, archived="false")
    assert mine(ow, lw, archived="true") == [arch]
    assert set(mine(ow, lw, archived="all")) == keys(lw, *LIVE, "archived")
    assert set(mine(ow, lw, archived="all", status="delivered")) == \
        keys(lw, "pct", "nopct", "archived")
    assert "archived" in field_names(ow.mgr.get(V1 + "/orders", params={"archived": "maybe"}))


# --- sort ------------------------------------------------------------------------------

def test_sort_created_at(ow, lw):
    order = [lw["ids"][k] for k in LIVE]  # the fixture's creation times ascend
    assert mine(ow, lw, sort="created_at") == order
    assert mine(ow, lw, sort="-created_at") == order[::-1]


def test_sort_status(ow, lw):
    def groups(ids):
        st = [ow.get(i)["status"] for i in ids]
        seq = [s for n, s in enumerate(st) if n == 0 or st[n - 1] != s]
        assert len(seq) == len(set(seq)), f"statuses not grouped: {st}"
        return seq
    up = groups(mine(ow, lw, sort="status"))
    down = groups(mine(ow, lw, sort="-status"))
    assert down == up[::-1]
    assert len(up) == 7


def test_sort_delivered_at_desc(ow, lw):
    ids = mine(ow, lw, sort="-delivered_at")
    assert ids[:2] == [lw["ids"]["nopct"], lw["ids"]["pct"]], ids
    assert set(ids) == keys(lw, *LIVE)


@pytest.mark.parametrize("bad", ["name", "created", "-", "created_at;drop", "password_hash",
                                 "created_at,status"])
def test_unknown_sort_is_422(ow, lw, bad):
    assert "sort" in field_names(ow.mgr.get(V1 + "/orders", params={"sort": bad}))


# --- paging --------------------------------------------------------------------------------

def test_paging(ow, lw):
    W = lw["wh"]["id"]
    seen = []
    for page in range(1, 6):
        body = listing(ow.mgr, warehouse_id=W, page=page, page_size=2, sort="created_at")
        assert body["page"] == page and body["page_size"] == 2
        assert body["total"] == len(LIVE)
        assert len(body["items"]) == (2 if page < 5 else 1)
        seen += ids_of(body)
    assert seen == [lw["ids"][k] for k in LIVE]
    body = listing(ow.mgr, warehouse_id=W, page=9, page_size=2)
    assert body["items"] == [] and body["total"] == len(LIVE) and body["page"] == 9


def test_a_reused_total_never_contradicts_the_page(ow):
    """The total of a filter is reused for 2 s, so an order written by
    another instance (here: straight into the database, which this
    daemon's cache never hears of) can make it stale. The page is always
    fresh, and the total answered must agree with it: exact when the page
    is not full, never below what the pages show."""
    wh = ow.warehouse()
    W = wh["id"]
    ow.new_order(ow.mgr, W)
    assert listing(ow.mgr, warehouse_id=W)["total"] == 1  # the count is now cached
    for i in range(2):
        ow.pg.sql(f"INSERT INTO orders (order_number, warehouse_id)"
                  f" VALUES ('OTHER-{W}-{i}-{secrets.token_hex(3)}', {W})")
    body = listing(ow.mgr, warehouse_id=W)
    assert (len(body["items"]), body["total"]) == (3, 3), body
    full = listing(ow.mgr, warehouse_id=W, page=2, page_size=1)
    assert len(full["items"]) == 1 and full["total"] >= 2, full
    last = listing(ow.mgr, warehouse_id=W, page=3, page_size=2)
    assert last["items"] == [] and last["total"] <= 4, last


def test_page_size_is_capped(ow, lw):
    body = listing(ow.mgr, warehouse_id=lw["wh"]["id"], page_size=1000)
    assert body["page_size"] == 200
    assert body["total"] == len(LIVE)
    # the cap is enforced on the items too (whole table: at most 200 rows)
    body = listing(ow.mgr, page_size=1000, archived="all")
    assert body["page_size"] == 200 and len(body["items"]) <= 200


def test_page_size_cap_follows_setting(ow, lw):
    old = ow.admin.get(V1 + "/settings").json()["max_page_size"]
    assert old == 200, "the default max_page_size (200) is expected"
    try:
        set_setting(ow, "max_page_size", 3)
        poll(lambda: listing(ow.mgr, warehouse_id=lw["wh"]["id"],
                             page_size=100)["page_size"] == 3, 3, what="max_page_size in force")
        body = listing(ow.mgr, warehouse_id=lw["wh"]["id"], page_size=100)
        assert len(body["items"]) == 3 and body["total"] == len(LIVE)
    finally:
        set_setting(ow, "max_page_size", old)
        poll(lambda: listing(ow.mgr, page_size=1000)["page_size"] == old, 3,
             what="max_page_size restored")


# --- visibility ----------------------------------------------------------------------------

def test_driver_sees_only_own_orders(ow, lw):
    assert set(mine(ow, lw, client=lw["cl1"])) == keys(lw, "arabic", "pct", "returned")
    body = listing(lw["cl1"], page_size=200)
    assert body["total"] == 3 and all(o["driver_id"] == lw["dl1"]["id"] for o in body["items"])
    # asking for someone else's orders does not widen the view
    assert mine(ow, lw, client=lw["cl1"], driver_id=lw["dl2"]["id"]) == []
    assert listing(lw["cl1"], warehouse_id=lw["other_wh"]["id"])["total"] == 0
    assert listing(lw["cl1"], status="pending")["total"] == 0
    assert set(mine(ow, lw, client=lw["cl2"])) == keys(lw, "nopct", "under", "picked")


def test_scoped_manager_sees_only_own_warehouse(ow, lw):
    body = listing(lw["mgr"], page_size=200)
    assert body["total"] == len(LIVE)
    assert all(o["warehouse_id"] == lw["wh"]["id"] for o in body["items"])
    assert set(ids_of(body)) == keys(lw, *LIVE)
    assert listing(lw["mgr"], warehouse_id=lw["other_wh"]["id"])["total"] == 0
    assert listing(lw["mgr"], q=f"Foreign {TAG}")["total"] == 0
    assert_problem(lw["mgr"].get(f"{V1}/orders/{lw['foreign']['id']}"), 404, "not_found")


def test_anonymous_list_is_401(api):
    assert_problem(api.get(V1 + "/orders"), 401, "unauthorized")


def test_q_backslash_and_quote_are_literal(ow):
    wh = ow.warehouse()
    names = {"back": f"Path a\\b {TAG}", "quote": f"O'Brien a'b {TAG}", "plain": f"Plain ab {TAG}"}
    ids = {k: ow.new_order(warehouse_id=wh["id"], customer_name=v)["id"]
           for k, v in names.items()}

    def found(q):
        return set(ids_of(listing(ow.mgr, warehouse_id=wh["id"], q=q, page_size=200)))

    assert found("a\\b") == {ids["back"]}
    assert found("a'b") == {ids["quote"]}
    assert found("o'brien") == {ids["quote"]}
    assert found("ab") == {ids["plain"]}
    assert found(TAG) == set(ids.values())
