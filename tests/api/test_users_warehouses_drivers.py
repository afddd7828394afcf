"""Users (admin CRUD, deactivate), warehouses (CRUD, unique code) and
drivers (user + profile in one go, list with filters, get, patch,
deactivate) through HTTP."""

import time

import pytest

from helpers import assert_problem, poll
from identity_helpers import (DRIVER_KEYS, USER_KEYS, V1, WAREHOUSE_KEYS, field_names,
                              kuwait_local_phone, strong_password, uniq)
from identity_helpers import idm  # noqa: F401 - fixtures


# --- users -------------------------------------------------------------------------

def test_create_and_get_user(idm):
    wh = idm.create_warehouse()
    email = f"{uniq('u')}@example.test"
    body = {"username": uniq("mgr"), "password": strong_password(), "full_name": "Fatma Al-Sabah",
            "role": "manager", "warehouse_id": wh["id"], "phone": "9988 7766", "email": email}
    r = idm.admin.post(V1 + "/users", json=body)
    assert r.status_code == 201, r.text
    user = r.json()
    assert set(user) == USER_KEYS, user
    assert isinstance(user["id"], int)
    assert {k: user[k] for k in ("username", "full_name", "role", "warehouse_id", "email")} == \
        {k: body[k] for k in ("username", "full_name", "role", "warehouse_id", "email")}
    assert user["phone"] == "+96599887766"
    assert user["is_active"] is True and user["locked_until"] is None and user["last_login_at"] is None
    assert user["created_at"].endswith("Z")
    assert body["password"] not in r.text and "hash" not in r.text

    r = idm.admin.get(f"{V1}/users/{user['id']}")
    assert r.status_code == 200 and r.json() == user


def test_duplicate_username_is_409(idm):
    user, _ = idm.create_user("driver")
    body = {"username": user["username"], "password": strong_password(), "full_name": "Again",
            "role": "manager"}
    body = assert_problem(idm.admin.post(V1 + "/users", json=body), 409, "duplicate")
    assert [e["field"] for e in body["errors"]] == ["username"], body


def test_unknown_warehouse_of_a_user_or_driver_is_422_naming_it(idm):
    missing = 10 ** 12
    body = {"username": uniq("u"), "password": strong_password(), "full_name": "Nowhere",
            "role": "manager", "warehouse_id": missing}
    assert field_names(idm.admin.post(V1 + "/users", json=body)) == {"warehouse_id"}
    r = idm.admin.post(V1 + "/drivers", json=idm.driver_body(missing))
    assert field_names(r) == {"warehouse_id"}


def test_username_taken_by_patch_is_409(idm):
    a, _ = idm.create_user("manager")
    b, _ = idm.create_user("manager")
    r = idm.admin.patch(f"{V1}/users/{b['id']}", json={"username": a["username"]})
    assert_problem(r, 409, "duplicate")
    assert idm.admin.get(f"{V1}/users/{b['id']}").json()["username"] == b["username"]


def test_user_with_unknown_warehouse_is_422(idm):
    r = idm.admin.post(V1 + "/users", json={"username": uniq("mgr"), "password": strong_password(),
                                            "full_name": "Nowhere", "role": "manager",
                                            "warehouse_id": 999999999})
    assert_problem(r, 422, "validation_failed")


def test_create_user_validation_lists_every_bad_field(idm):
    assert field_names(idm.admin.post(V1 + "/users", json={})) >= \
        {"username", "password", "full_name", "role"}
    bad = {"username": " ", "password": "short", "full_name": "X", "role": "boss",
           "email": "not-an-email", "phone": "12"}
    assert field_names(idm.admin.post(V1 + "/users", json=bad)) >= \
        {"username", "password", "role", "email", "phone"}


def test_password_minimum_is_ten_characters(idm):
    base = {"full_name": "Len Test", "role": "driver"}
    r = idm.admin.post(V1 + "/users", json={**base, "username": uniq("len"), "password": "123456789"})
    assert "password" in field_names(r)
    name = uniq("len")
    r = idm.admin.post(V1 + "/users", json={**base, "username": name, "password": "1234567890"})
    assert r.status_code == 201, r.text
    assert idm.login(name, "1234567890")["user"]["username"] == name
    # the same rule on PATCH
    r = idm.admin.patch(f"{V1}/users/{r.json()['id']}", json={"password": "short"})
    assert "password" in field_names(r)


def test_list_users_is_a_paged_envelope(idm):
    created = [idm.create_user("driver")[0] for _ in range(2)]
    r = idm.admin.get(V1 + "/users", params={"page": 1, "page_size": 1})
    assert r.status_code == 200, r.text
    env = r.json()
    assert set(env) == {"items", "page", "page_size", "total"}
    assert env["page"] == 1 and env["page_size"] == 1 and len(env["items"]) == 1
    assert env["total"] >= 3
    assert set(env["items"][0]) == USER_KEYS
    # page_size is capped by max_page_size
    cap = idm.settings()["max_page_size"]
    r = idm.admin.get(V1 + "/users", params={"page_size": cap + 1000})
    assert r.status_code == 200 and r.json()["page_size"] == cap, r.text
    # every created user is somewhere in the list
    total = r.json()["total"]
    seen = set()
    for page in range(1, total // cap + 2):
        seen |= {u["id"] for u in idm.admin.get(V1 + "/users", params={"page": page,
                                                                       "page_size": cap}).json()["items"]}
    assert {u["id"] for u in created} <= seen


def test_patch_user(idm):
    user, pw = idm.create_user("manager")
    wh = idm.create_warehouse()
    r = idm.admin.patch(f"{V1}/users/{user['id']}",
                        json={"full_name": "Renamed Manager", "warehouse_id": wh["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Renamed Manager" and r.json()["warehouse_id"] == wh["id"]
    assert idm.admin.get(f"{V1}/users/{user['id']}").json()["full_name"] == "Renamed Manager"
    r = idm.admin.patch(f"{V1}/users/{user['id']}", json={"role": "boss"})
    assert "role" in field_names(r)
    assert_problem(idm.admin.patch(f"{V1}/users/999999999", json={"full_name": "x"}), 404, "not_found")
    assert_problem(idm.admin.get(f"{V1}/users/999999999"), 404, "not_found")


def test_delete_user_deactivates_and_ends_the_access_token(idm):
    user, pw, c = idm.user_client("manager")
    try:
        assert c.get(V1 + "/auth/me").status_code == 200
        r = idm.admin.delete(f"{V1}/users/{user['id']}")
        assert r.status_code == 204, r.text
        assert r.content == b""
        t0 = time.monotonic()
        poll(lambda: c.get(V1 + "/auth/me").status_code == 401, timeout=1.5, interval=0.1,
             what="the deactivated user's token refused")
        assert time.monotonic() - t0 < 1.5
        assert_problem(c.get(V1 + "/drivers"), 401, "unauthorized")
        shown = idm.admin.get(f"{V1}/users/{user['id']}").json()
        assert shown["is_active"] is False
        assert_problem(idm.anon().post(V1 + "/auth/login",
                                       json={"username": user["username"], "password": pw}),
                       403, "account_disabled")
    finally:
        c.close()


def test_delete_unknown_user_is_404(idm):
    assert_problem(idm.admin.delete(f"{V1}/users/999999999"), 404, "not_found")


def test_reactivate_user_by_patch(idm):
    user, pw = idm.create_user("driver")
    assert idm.admin.delete(f"{V1}/users/{user['id']}").status_code == 204
    r = idm.admin.patch(f"{V1}/users/{user['id']}", json={"is_active": True})
    assert r.status_code == 200 and r.json()["is_active"] is True, r.text
    assert idm.login(user["username"], pw)["user"]["id"] == user["id"]


# --- warehouses -----------------------------------------------------------------------

def test_create_list_and_patch_warehouse(idm):
    code = uniq("WH").upper()
    r = idm.admin.post(V1 + "/warehouses", json={"code": code, "name": "Ardiya Hub",
                                                 "address": "Ardiya, Block 4", "latitude": 29.29,
                                                 "longitude": 47.9})
    assert r.status_code == 201, r.text
    wh = r.json()
    assert set(wh) == WAREHOUSE_KEYS, wh
    assert wh["code"] == code and wh["name"] == "Ardiya Hub" and wh["is_active"] is True
    assert wh["latitude"] == pytest.approx(29.29) and wh["longitude"] == pytest.approx(47.9)

    r = idm.admin.get(V1 + "/warehouses")
    assert r.status_code == 200 and isinstance(r.json(), list), r.text  # a bare array
    assert wh in r.json()

    r = idm.admin.patch(f"{V1}/warehouses/{wh['id']}", json={"name": "Ardiya Hub 2", "is_active": False})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Ardiya Hub 2" and r.json()["is_active"] is False
    assert r.json()["code"] == code
    assert_problem(idm.admin.patch(f"{V1}/warehouses/999999999", json={"name": "x"}), 404, "not_found")


def test_duplicate_warehouse_code_is_409_case_insensitively(idm):
    wh = idm.create_warehouse()
    for code in (wh["code"], wh["code"].lower()):
        r = idm.admin.post(V1 + "/warehouses", json={"code": code, "name": "Copy"})
        assert_problem(r, 409, "duplicate")
    # nor may a patch take another warehouse's code
    other = idm.create_warehouse()
    r = idm.admin.patch(f"{V1}/warehouses/{other['id']}", json={"code": wh["code"]})
    assert_problem(r, 409, "duplicate")


def test_warehouse_validation(idm):
    assert field_names(idm.admin.post(V1 + "/warehouses", json={})) >= {"code", "name"}
    r = idm.admin.post(V1 + "/warehouses", json={"code": uniq("W"), "name": "N", "latitude": 91,
                                                 "longitude": -181})
    assert field_names(r) >= {"latitude", "longitude"}


def test_manager_may_create_warehouses(idm):
    _, _, mgr = idm.user_client("manager")
    try:
        r = mgr.post(V1 + "/warehouses", json={"code": uniq("WM").upper(), "name": "By Manager"})
        assert r.status_code == 201, r.text
        r2 = mgr.patch(f"{V1}/warehouses/{r.json()['id']}", json={"address": "Fahaheel"})
        assert r2.status_code == 200 and r2.json()["address"] == "Fahaheel", r2.text
    finally:
        mgr.close()


# --- drivers ---------------------------------------------------------------------------

_WH = {}


def _shared_warehouse(idm):
    if "id" not in _WH:
        _WH["id"] = idm.create_warehouse()["id"]
    return _WH["id"]


def test_create_driver_makes_user_and_profile(idm):
    wh = idm.create_warehouse()
    local = kuwait_local_phone()
    body = idm.driver_body(wh["id"], phone=f"{local[:4]} {local[4:]}", vehicle_type="car")
    r = idm.admin.post(V1 + "/drivers", json=body)
    assert r.status_code == 201, r.text
    drv = r.json()
    assert set(drv) == DRIVER_KEYS, drv
    assert drv["phone"] == "+965" + local
    assert (drv["code"], drv["full_name"], drv["vehicle_type"], drv["warehouse_id"]) == \
        (body["code"], body["full_name"], "car", wh["id"])
    assert drv["is_active"] is True and drv["is_online"] is False and drv["last_location"] is None
    assert isinstance(drv["id"], int) and isinstance(drv["user_id"], int)

    user = idm.admin.get(f"{V1}/users/{drv['user_id']}").json()
    assert user["role"] == "driver" and user["username"] == body["username"]

    login = idm.login(body["username"], body["password"])
    assert login["user"]["id"] == drv["user_id"]
    assert login["user"]["role"] == "driver"
    # the driver's phone is a login name too
    assert idm.login("+965" + local, body["password"])["user"]["id"] == drv["user_id"]
    c = idm.client(body["username"], body["password"])
    try:
        assert c.get(V1 + "/drivers/me").json() == drv
    finally:
        c.close()
    assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json() == drv


@pytest.mark.parametrize("form", ["00965{n}", "965{n}", "+965 {a} {b}", "+965-{a}-{b}", "{a}-{b}",
                                  "numeric", "numeric_float", "{n}.0"])
def test_driver_phone_is_normalized_to_e164(idm, form):
    wh_id = _shared_warehouse(idm)
    n = kuwait_local_phone()
    if form == "numeric":
        phone = int(n)
    elif form == "numeric_float":
        phone = float(n)
    else:
        phone = form.format(n=n, a=n[:4], b=n[4:])
    drv, _ = idm.create_driver(wh_id, phone=phone)
    assert drv["phone"] == "+965" + n, (phone, drv["phone"])


def test_create_driver_validation_lists_every_bad_field(idm):
    required = {"username", "password", "full_name", "phone", "code", "vehicle_type", "warehouse_id"}
    assert field_names(idm.admin.post(V1 + "/drivers", json={})) >= required
    bad = idm.driver_body(_shared_warehouse(idm), password="short", phone="12345",
                          vehicle_type="bicycle")
    assert field_names(idm.admin.post(V1 + "/drivers", json=bad)) >= {"password", "phone", "vehicle_type"}
    r = idm.admin.post(V1 + "/drivers", json=idm.driver_body(999999999))
    assert_problem(r, 422, "validation_failed")


def test_create_driver_is_all_or_nothing(idm):
    wh_id = _shared_warehouse(idm)
    existing, _ = idm.create_driver(wh_id)
    # duplicate code: neither the user nor the profile is created
    body = idm.driver_body(wh_id, code=existing["code"])
    assert_problem(idm.admin.post(V1 + "/drivers", json=body), 409, "duplicate")
    assert_problem(idm.anon().post(V1 + "/auth/login",
                                   json={"username": body["username"], "password": body["password"]}),
                   401, "invalid_credentials")
    # the username is still free
    drv, _ = idm.create_driver(wh_id, username=body["username"])
    # duplicate username
    body2 = idm.driver_body(wh_id, username=body["username"])
    assert_problem(idm.admin.post(V1 + "/drivers", json=body2), 409, "duplicate")
    r = idm.admin.get(V1 + "/drivers", params={"warehouse_id": wh_id, "page_size": 200})
    assert body2["code"] not in {d["code"] for d in r.json()["items"]}


def test_list_drivers_envelope_and_filters(idm):
    wh_a, wh_b = idm.create_warehouse(), idm.create_warehouse()
    a1, _ = idm.create_driver(wh_a["id"])
    a2, _ = idm.create_driver(wh_a["id"])
    b1, _ = idm.create_driver(wh_b["id"])
    r = idm.admin.get(V1 + "/drivers", params={"warehouse_id": wh_a["id"]})
    assert r.status_code == 200, r.text
    env = r.json()
    assert set(env) == {"items", "page", "page_size", "total"}
    assert env["page"] == 1 and env["total"] == 2
    assert {d["id"] for d in env["items"]} == {a1["id"], a2["id"]}
    assert all(set(d) == DRIVER_KEYS for d in env["items"])

    r = idm.admin.get(V1 + "/drivers", params={"warehouse_id": wh_a["id"], "page_size": 1, "page": 2})
    assert r.json()["total"] == 2 and len(r.json()["items"]) == 1 and r.json()["page"] == 2

    offline = idm.admin.get(V1 + "/drivers", params={"warehouse_id": wh_b["id"], "is_online": "false"})
    assert [d["id"] for d in offline.json()["items"]] == [b1["id"]]
    online = idm.admin.get(V1 + "/drivers", params={"warehouse_id": wh_b["id"], "is_online": "true"})
    assert online.json()["items"] == [] and online.json()["total"] == 0

    everything = idm.admin.get(V1 + "/drivers", params={"page_size": 200})
    assert everything.json()["total"] >= 3


def test_get_unknown_driver_is_404(idm):
    assert_problem(idm.admin.get(f"{V1}/drivers/999999999"), 404, "not_found")
    assert_problem(idm.admin.patch(f"{V1}/drivers/999999999", json={"vehicle_type": "car"}), 404,
                   "not_found")


def test_patch_driver(idm):
    wh_id = _shared_warehouse(idm)
    other_wh = idm.create_warehouse()
    drv, body = idm.create_driver(wh_id)
    n = kuwait_local_phone()
    r = idm.admin.patch(f"{V1}/drivers/{drv['id']}",
                        json={"vehicle_type": "van", "full_name": "New Name", "phone": f"965{n}",
                              "warehouse_id": other_wh["id"]})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["vehicle_type"], got["full_name"], got["phone"], got["warehouse_id"]) == \
        ("van", "New Name", "+965" + n, other_wh["id"])
    assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json() == got
    assert "vehicle_type" in field_names(idm.admin.patch(f"{V1}/drivers/{drv['id']}",
                                                         json={"vehicle_type": "truck"}))


@pytest.mark.parametrize("how", ["delete", "patch"])
def test_deactivating_a_drivers_user_deactivates_the_driver(idm, how):
    """DELETE /users/{id} or PATCH /users/{id} {"is_active": false} on a
    driver's user takes the driver out of dispatch too: the profile reads
    inactive, an assignment to them is 422, the live map leaves them out.
    Reactivating the user brings the profile back (migration 0015)."""
    from helpers import order_body, post_order
    wh_id = _shared_warehouse(idm)
    drv, _ = idm.create_driver(wh_id)
    user_url = f"{V1}/users/{drv['user_id']}"
    if how == "delete":
        assert idm.admin.delete(user_url).status_code == 204
    else:
        r = idm.admin.patch(user_url, json={"is_active": False})
        assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json()["is_active"] is False
    order = post_order(idm.admin, order_body(wh_id))
    assert "driver_id" in field_names(idm.admin.post(f"{V1}/orders/{order['id']}/assign",
                                                     json={"driver_id": drv["id"]}))
    poll(lambda: drv["id"] not in {d["driver_id"] for d in
                                   idm.admin.get(V1 + "/drivers/locations").json()},
         timeout=3, interval=0.2, what="the inactive driver off the map")

    r = idm.admin.patch(user_url, json={"is_active": True})
    assert r.status_code == 200, r.text
    assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json()["is_active"] is True
    r = idm.admin.post(f"{V1}/orders/{order['id']}/assign", json={"driver_id": drv["id"]})
    assert r.status_code == 200 and r.json()["driver_id"] == drv["id"], r.text


@pytest.mark.parametrize("how", ["patch_driver", "delete_user", "role_change"])
def test_a_driver_taken_out_goes_offline_and_cannot_be_assigned(idm, pg, how):
    """An online driver who is deactivated (PATCH /drivers, DELETE /users) or
    whose user stops being a driver (PATCH /users {"role":"manager"}) is
    offline at once: the open work session ends ('deactivated'), is_online is
    false, GET /drivers?is_online=true leaves them out, and an assignment to
    the profile is refused (migration 0019). Before, they stayed online until
    sla-check's silence timeout, and a role change left an assignable profile
    that nobody could deliver with."""
    from helpers import order_body, post_order
    wh_id = _shared_warehouse(idm)
    drv, body, c = idm.driver_client(wh_id)
    try:
        r = c.post(V1 + "/drivers/me/online", json={"latitude": 29.3, "longitude": 47.9})
        assert r.status_code in (200, 201), r.text
        assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json()["is_online"] is True
        if how == "patch_driver":
            r = idm.admin.patch(f"{V1}/drivers/{drv['id']}", json={"is_active": False})
        elif how == "delete_user":
            r = idm.admin.delete(f"{V1}/users/{drv['user_id']}")
        else:
            r = idm.admin.patch(f"{V1}/users/{drv['user_id']}", json={"role": "manager"})
        assert r.status_code in (200, 204), r.text
        got = idm.admin.get(f"{V1}/drivers/{drv['id']}").json()
        assert (got["is_active"], got["is_online"]) == (False, False), got
        online = idm.admin.get(V1 + "/drivers", params={"is_online": "true", "page_size": 200}).json()
        assert drv["id"] not in {d["id"] for d in online["items"]}
        sessions = pg.sql(f"SELECT count(*) FILTER (WHERE ended_at IS NULL) || ' '"
                              f" || string_agg(end_reason, ',') FROM work_sessions"
                              f" WHERE driver_id = {drv['id']}")
        assert sessions == "0 deactivated", sessions
        order = post_order(idm.admin, order_body(wh_id))
        assert "driver_id" in field_names(idm.admin.post(f"{V1}/orders/{order['id']}/assign",
                                                         json={"driver_id": drv["id"]}))
        if how == "role_change":
            # made a driver again: the profile is back in dispatch
            r = idm.admin.patch(f"{V1}/users/{drv['user_id']}", json={"role": "driver"})
            assert r.status_code == 200, r.text
            assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json()["is_active"] is True
            r = idm.admin.post(f"{V1}/orders/{order['id']}/assign", json={"driver_id": drv["id"]})
            assert r.status_code == 200, r.text
    finally:
        c.close()


def test_a_statement_that_loses_a_deadlock_is_run_again(idm, pg):
    """DELETE /users/{id} of an online driver is one statement that locks the
    user, the driver (trigger) and the open work session (trigger). Another
    session holds that work session and then wants the driver row: a
    deadlock, which PostgreSQL settles by failing the daemon's statement
    (it waited first). A statement of its own was rolled back whole, so the
    daemon runs it again instead of answering 503, and it succeeds once the
    other session commits."""
    import threading
    drv, _body, c = idm.driver_client(_shared_warehouse(idm))
    try:
        r = c.post(V1 + "/drivers/me/online", json={})
        assert r.status_code in (200, 201), r.text
    finally:
        c.close()
    deadlocks_before = pg.log_text().count("deadlock detected")
    other = threading.Thread(target=pg.sql, args=(
        "BEGIN;"
        f" SELECT 1 FROM work_sessions WHERE driver_id = {drv['id']} AND ended_at IS NULL FOR UPDATE;"
        " SELECT pg_sleep(0.6);"
        f" UPDATE drivers SET vehicle_type = vehicle_type WHERE id = {drv['id']};"
        " SELECT pg_sleep(1.5);"
        " COMMIT;",))
    other.start()
    try:
        time.sleep(0.2)  # the other session holds the work session first
        r = idm.admin.delete(f"{V1}/users/{drv['user_id']}")
    finally:
        other.join(timeout=30)
    assert r.status_code == 204, r.text
    assert pg.log_text().count("deadlock detected") > deadlocks_before, "no deadlock happened"
    got = idm.admin.get(f"{V1}/drivers/{drv['id']}").json()
    assert (got["is_active"], got["is_online"]) == (False, False), got


def test_deactivating_a_driver_deactivates_their_user(idm):
    drv, body, c = idm.driver_client(_shared_warehouse(idm))
    try:
        assert c.get(V1 + "/drivers/me").status_code == 200
        r = idm.admin.patch(f"{V1}/drivers/{drv['id']}", json={"is_active": False})
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False
        poll(lambda: c.get(V1 + "/drivers/me").status_code == 401, timeout=1.5, interval=0.1,
             what="the deactivated driver's token refused")
        assert idm.admin.get(f"{V1}/users/{drv['user_id']}").json()["is_active"] is False
        assert_problem(idm.anon().post(V1 + "/auth/login",
                                       json={"username": body["username"], "password": body["password"]}),
                       403, "account_disabled")
        r = idm.admin.get(V1 + "/drivers", params={"warehouse_id": drv["warehouse_id"], "page_size": 200})
        listed = {d["id"]: d for d in r.json()["items"]}
        assert listed[drv["id"]]["is_active"] is False
    finally:
        c.close()


def test_deactivating_a_driver_ends_their_sessions_for_good(idm):
    """PATCH /drivers {"is_active": false} revokes the driver's refresh tokens,
    as DELETE /users does: reactivating the driver later does not bring a
    session from before back to life."""
    drv, body, c = idm.driver_client(_shared_warehouse(idm))
    c.close()
    session = idm.anon().post(V1 + "/auth/login", json={"username": body["username"],
                                                       "password": body["password"]}).json()
    for active in (False, True):
        r = idm.admin.patch(f"{V1}/drivers/{drv['id']}", json={"is_active": active})
        assert r.status_code == 200 and r.json()["is_active"] is active, r.text
    assert_problem(idm.anon().post(V1 + "/auth/refresh",
                                   json={"refresh_token": session["refresh_token"]}), 401)
    # a new login works
    r = idm.anon().post(V1 + "/auth/login", json={"username": body["username"],
                                                 "password": body["password"]})
    assert r.status_code == 200, r.text


def test_an_admin_cannot_take_their_own_access_away(idm):
    """Demoting, deactivating or deleting yourself is 409: with one admin
    nobody could undo it. Another admin can, and other edits of yourself work."""
    me, pw = idm.create_user("admin")
    c = idm.client(me["username"], pw)
    try:
        url = f"{V1}/users/{me['id']}"
        for change in ({"role": "manager"}, {"role": "driver"}, {"is_active": False}):
            assert_problem(c.patch(url, json=change), 409, "conflict")
        assert_problem(c.delete(url), 409, "conflict")
        r = c.patch(url, json={"full_name": "Still Admin", "role": "admin", "is_active": True})
        assert r.status_code == 200 and r.json()["role"] == "admin", r.text
        assert idm.admin.get(url).json()["is_active"] is True
        r = idm.admin.patch(url, json={"role": "manager"})
        assert r.status_code == 200 and r.json()["role"] == "manager", r.text
    finally:
        c.close()
