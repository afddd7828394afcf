"""Roles and scope through HTTP: no token → 401, wrong role → 403, objects
outside a warehouse-scoped manager's warehouse → 404 (422 when written
into a body), and a token whose role no longer matches the user → 401."""

import pytest

from helpers import assert_problem
from identity_helpers import V1, field_names, jwt_parts
from identity_helpers import idm  # noqa: F401 - fixtures

# (method, path, body) samples of each role's routes; {wh} and {drv} filled in per test.
ADMIN_ONLY = [
    ("GET", "/users", None),
    ("POST", "/users", {"username": "x", "password": "long-enough-pw", "full_name": "X",
                        "role": "driver"}),
    ("GET", "/users/1", None),
    ("PATCH", "/users/1", {"full_name": "X"}),
    ("DELETE", "/users/1", None),
    ("POST", "/users/1/unlock", None),
    ("PUT", "/settings/sla_minutes", {"value": 120}),
]
STAFF_ONLY = [
    ("GET", "/drivers", None),
    ("POST", "/drivers", {}),
    ("GET", "/drivers/{drv}", None),
    ("PATCH", "/drivers/{drv}", {"vehicle_type": "car"}),
    ("POST", "/warehouses", {}),
    ("PATCH", "/warehouses/{wh}", {"name": "nope"}),
    ("GET", "/settings", None),
]


def _call(api, method, path, body, **fmt):
    return api.request(method, V1 + path.format(**fmt), json=body)


@pytest.fixture(scope="module")
def world(idm):
    """Two warehouses with a driver each, plus a manager scoped to the first."""
    wh_a = idm.create_warehouse()
    wh_b = idm.create_warehouse()
    drv_a, body_a = idm.create_driver(wh_a["id"])
    drv_b, body_b = idm.create_driver(wh_b["id"])
    mgr, mgr_pw = idm.create_user("manager", warehouse_id=wh_a["id"])
    assert mgr["warehouse_id"] == wh_a["id"]
    return {"wh_a": wh_a, "wh_b": wh_b, "drv_a": drv_a, "drv_b": drv_b, "body_a": body_a,
            "body_b": body_b, "mgr": mgr, "mgr_pw": mgr_pw}


@pytest.fixture
def scoped(idm, world):
    c = idm.client(world["mgr"]["username"], world["mgr_pw"])
    yield c
    c.close()


# --- 401 and 403 -------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", ADMIN_ONLY + STAFF_ONLY + [
    ("GET", "/warehouses", None), ("GET", "/auth/me", None), ("GET", "/drivers/me", None),
    ("POST", "/auth/password", {"current_password": "a", "new_password": "b"})])
def test_no_token_is_401(api, world, method, path, body):
    r = _call(api, method, path, body, wh=world["wh_a"]["id"], drv=world["drv_a"]["id"])
    assert_problem(r, 401, "unauthorized")


def test_driver_gets_403_outside_their_routes(idm, world):
    _, _, drv_api = idm.driver_client(world["wh_a"]["id"])
    try:
        for method, path, body in ADMIN_ONLY + STAFF_ONLY:
            r = _call(drv_api, method, path, body, wh=world["wh_a"]["id"], drv=world["drv_a"]["id"])
            assert_problem(r, 403, "forbidden")
        # what a driver may do
        r = drv_api.get(V1 + "/warehouses")
        assert r.status_code == 200 and isinstance(r.json(), list), r.text
        r = drv_api.get(V1 + "/drivers/me")
        assert r.status_code == 200, r.text
    finally:
        drv_api.close()


def test_manager_gets_403_on_admin_routes(idm, world):
    _, _, mgr_api = idm.user_client("manager")
    try:
        for method, path, body in ADMIN_ONLY:
            assert_problem(_call(mgr_api, method, path, body), 403, "forbidden")
        for path in ("/drivers", "/settings", "/warehouses", "/auth/me"):
            r = mgr_api.get(V1 + path)
            assert r.status_code == 200, (path, r.status_code, r.text)
    finally:
        mgr_api.close()


def test_drivers_me_is_for_drivers_only(idm):
    _, _, mgr_api = idm.user_client("manager")
    try:
        assert_problem(mgr_api.get(V1 + "/drivers/me"), 403, "forbidden")
        assert_problem(idm.admin.get(V1 + "/drivers/me"), 403, "forbidden")
    finally:
        mgr_api.close()


def test_driver_sees_only_their_own_profile(idm, world):
    drv, body, drv_api = idm.driver_client(world["wh_b"]["id"])
    try:
        r = drv_api.get(V1 + "/drivers/me")
        assert r.status_code == 200, r.text
        me = r.json()
        assert me["id"] == drv["id"] and me["code"] == body["code"]
        assert me["id"] != world["drv_b"]["id"]
        # profiles by id are staff routes, even one's own
        assert_problem(drv_api.get(f"{V1}/drivers/{drv['id']}"), 403, "forbidden")
        assert_problem(drv_api.get(f"{V1}/drivers/{world['drv_b']['id']}"), 403, "forbidden")
    finally:
        drv_api.close()


def test_role_change_invalidates_the_old_token(idm):
    user, pw, c = idm.user_client("manager")
    try:
        assert c.get(V1 + "/drivers").status_code == 200
        r = idm.admin.patch(f"{V1}/users/{user['id']}", json={"role": "driver"})
        assert r.status_code == 200 and r.json()["role"] == "driver", r.text
        # the token still says manager: refused (not served with the old role)
        assert_problem(c.get(V1 + "/drivers"), 401, "unauthorized")
        assert_problem(c.get(V1 + "/auth/me"), 401, "unauthorized")
        # a new login carries the new role
        fresh = idm.login(user["username"], pw)
        assert jwt_parts(fresh["access_token"])[1]["role"] == "driver"
    finally:
        c.close()


# --- warehouse-scoped manager -------------------------------------------------------

def test_scoped_manager_lists_only_their_warehouse(scoped, world):
    r = scoped.get(V1 + "/drivers", params={"page_size": 200})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    ids = {d["id"] for d in items}
    assert world["drv_a"]["id"] in ids
    assert world["drv_b"]["id"] not in ids
    assert {d["warehouse_id"] for d in items} == {world["wh_a"]["id"]}
    # asking for the other warehouse explicitly gives nothing
    r = scoped.get(V1 + "/drivers", params={"warehouse_id": world["wh_b"]["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["total"] == 0


def test_unscoped_manager_sees_every_warehouse(idm, world):
    _, _, mgr_api = idm.user_client("manager")
    try:
        for key in ("drv_a", "drv_b"):
            drv = world[key]
            r = mgr_api.get(f"{V1}/drivers/{drv['id']}")
            assert r.status_code == 200, r.text
            r = mgr_api.get(V1 + "/drivers", params={"warehouse_id": drv["warehouse_id"]})
            assert drv["id"] in {d["id"] for d in r.json()["items"]}
    finally:
        mgr_api.close()


def test_scoped_manager_gets_404_for_another_warehouses_driver(idm, scoped, world):
    other = world["drv_b"]
    assert_problem(scoped.get(f"{V1}/drivers/{other['id']}"), 404, "not_found")
    for change in ({"vehicle_type": "van"}, {"full_name": "Hijacked"}, {"is_active": False}):
        assert_problem(scoped.patch(f"{V1}/drivers/{other['id']}", json=change), 404, "not_found")
    # nothing changed
    r = idm.admin.get(f"{V1}/drivers/{other['id']}")
    assert r.status_code == 200, r.text
    assert (r.json()["full_name"], r.json()["vehicle_type"], r.json()["is_active"]) == \
        (other["full_name"], other["vehicle_type"], True)
    # own warehouse's driver is fine
    r = scoped.get(f"{V1}/drivers/{world['drv_a']['id']}")
    assert r.status_code == 200 and r.json()["id"] == world["drv_a"]["id"], r.text


def test_scoped_manager_creates_drivers_only_in_their_warehouse(idm, scoped, world):
    body = idm.driver_body(world["wh_b"]["id"])
    r = scoped.post(V1 + "/drivers", json=body)
    assert "warehouse_id" in field_names(r)
    # and nothing was created: the username is still free for a login attempt
    assert_problem(idm.anon().post(V1 + "/auth/login",
                                   json={"username": body["username"], "password": body["password"]}),
                   401, "invalid_credentials")

    body = idm.driver_body(world["wh_a"]["id"])
    r = scoped.post(V1 + "/drivers", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["warehouse_id"] == world["wh_a"]["id"]


def test_scoped_manager_cannot_move_a_driver_out_of_their_warehouse(idm, scoped, world):
    drv, _ = idm.create_driver(world["wh_a"]["id"])
    r = scoped.patch(f"{V1}/drivers/{drv['id']}", json={"warehouse_id": world["wh_b"]["id"]})
    assert "warehouse_id" in field_names(r)
    assert idm.admin.get(f"{V1}/drivers/{drv['id']}").json()["warehouse_id"] == world["wh_a"]["id"]


def test_scoped_manager_cannot_edit_another_warehouse(scoped, world):
    r = scoped.patch(f"{V1}/warehouses/{world['wh_b']['id']}", json={"name": "Taken over"})
    assert_problem(r, 404, "not_found")
    names = {w["id"]: w["name"] for w in scoped.get(V1 + "/warehouses").json()}
    assert names[world["wh_b"]["id"]] == world["wh_b"]["name"]
