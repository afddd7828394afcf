"""Bytes a client should not send, in the URL or in a header: an encoded
NUL never cuts a path or a value short (it used to: "/settings/x%00junk"
was setting x), and bytes that are not UTF-8 never reach PostgreSQL as text
it refuses (they were 500s): a query value that is not UTF-8 once decoded
stays as written, a User-Agent that is not UTF-8 is not kept, a file name
that is not is no file name."""

import secrets

import pytest

from helpers import V1, Api, Client, assert_problem
from identity_helpers import field_names


@pytest.fixture(scope="module")
def admin(daemon, admin_credentials):
    c = Client(daemon.url(), *admin_credentials)
    yield c
    c.close()


def test_an_encoded_nul_cuts_neither_the_path_nor_a_value(api, admin):
    assert api.get("/health%00.json").status_code == 404
    before = admin.get(V1 + "/settings").json()["max_page_size"]
    r = admin.put(V1 + "/settings/max_page_size%00junk", json={"value": before + 1})
    assert_problem(r, 404, "not_found")
    assert admin.get(V1 + "/settings").json()["max_page_size"] == before
    assert admin.get(V1 + "/users/1%00/whatever").status_code == 404
    assert "status" in field_names(admin.get(V1 + "/orders?status=pending%00assigned"))


@pytest.mark.parametrize("q", ["%FF", "ab%FFcd", "%C3", "%ED%A0%80", "%C0%AF"])
def test_a_q_that_is_not_utf8_is_searched_as_written(admin, q):
    r = admin.get(V1 + "/orders?q=" + q)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 0
    r = admin.get(V1 + "/orders/export?format=csv&q=" + q)
    assert r.status_code == 200, r.text[:300]


def test_a_track_token_that_is_not_utf8_is_404(api):
    assert_problem(api.get(V1 + "/track/%FF"), 404, "not_found")
    assert_problem(api.get(V1 + "/track/%C3%28"), 404, "not_found")


def test_a_user_agent_that_is_not_utf8_does_not_stop_a_login(api, admin_credentials):
    ua = {"User-Agent": b"Mozilla/5.0 \xff\xfe"}
    user, password = admin_credentials
    r = api.post(V1 + "/auth/login", json={"username": user, "password": password}, headers=ua)
    assert r.status_code == 200, r.text
    r = api.post(V1 + "/auth/refresh", json={"refresh_token": r.json()["refresh_token"]},
                 headers={"User-Agent": b"\xc3("})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("ctype,status", [("application/json", 401),
                                          ("application/json; charset=utf-8", 401),
                                          ("application/jsonx", 415),
                                          ("application/json-patch+json", 415)])
def test_json_routes_take_application_json_itself(api, ctype, status):
    """The media type before its parameters must be application/json (a
    prefix match let application/jsonx through)."""
    r = api.post(V1 + "/auth/login", data=b'{"username":"nobody","password":"wrong-password"}',
                 headers={"Content-Type": ctype})
    assert r.status_code == status, r.text
