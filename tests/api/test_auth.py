"""Auth through HTTP: login (username, email, phone), lockout and unlock,
disabled accounts, refresh rotation and reuse detection, logout, /auth/me,
password change, forged and tampered access tokens, and hashing that does
not hold up other requests."""

import json
import threading
import time

import pytest

from helpers import Api, assert_problem
from identity_helpers import (USER_KEYS, V1, access_claims, b64url, field_names, jwt_parts,
                              kuwait_local_phone, make_jwt, problem_without_request_id, uniq)
from identity_helpers import idm, jwt_secret  # noqa: F401 - fixtures

LOGIN = V1 + "/auth/login"
REFRESH = V1 + "/auth/refresh"
LOGOUT = V1 + "/auth/logout"
ME = V1 + "/auth/me"
PASSWORD = V1 + "/auth/password"


def _login(api, username, password):
    return api.post(LOGIN, json={"username": username, "password": password})


def _threshold(idm):
    t = idm.settings()["lockout_threshold"]
    assert isinstance(t, int) and t >= 2, t
    return t


# --- login -------------------------------------------------------------------------

def test_login_returns_token_pair_and_user(idm, api):
    user, pw = idm.create_user("manager", full_name="Login Tester")
    r = _login(api, user["username"], pw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
    assert set(body["user"]) == USER_KEYS, body["user"]
    assert body["user"]["id"] == user["id"]
    assert body["user"]["role"] == "manager"
    assert body["user"]["last_login_at"] and body["user"]["last_login_at"].endswith("Z")
    assert "password" not in r.text and "argon2" not in r.text

    header, claims = jwt_parts(body["access_token"])
    assert header["alg"] == "HS256"
    assert claims["sub"] == str(user["id"])
    assert claims["role"] == "manager"
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60


def test_login_accepts_email_and_phone(idm, api):
    local = kuwait_local_phone()
    email = f"{uniq('mail')}@example.test"
    user, pw = idm.create_user("manager", email=email, phone=local)
    assert user["phone"] == "+965" + local
    for ident in (email, "+965" + local, local, f"00965{local}"):
        r = _login(api, ident, pw)
        assert r.status_code == 200, (ident, r.status_code, r.text)
        assert r.json()["user"]["id"] == user["id"], ident


def test_wrong_password_is_401_invalid_credentials(idm, api):
    user, pw = idm.create_user("driver")
    assert_problem(_login(api, user["username"], pw + "x"), 401, "invalid_credentials")


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(idm, api):
    user, pw = idm.create_user("manager")
    wrong = _login(api, user["username"], "definitely-wrong-pw")
    unknown = _login(api, uniq("nobody"), "definitely-wrong-pw")
    assert_problem(wrong, 401, "invalid_credentials")
    assert_problem(unknown, 401, "invalid_credentials")
    assert problem_without_request_id(wrong) == problem_without_request_id(unknown)
    assert wrong.headers.get("Content-Type") == unknown.headers.get("Content-Type")


def test_login_without_password_is_422(api):
    r = api.post(LOGIN, json={"username": uniq("x")})
    assert "password" in field_names(r)
    r = api.post(LOGIN, json={"password": "whatever-password"})
    assert "username" in field_names(r)


# --- lockout --------------------------------------------------------------------

def test_lockout_after_threshold_even_with_right_password(idm, api):
    n = _threshold(idm)
    user, pw = idm.create_user("manager")
    for i in range(n - 1):
        assert_problem(_login(api, user["username"], "wrong-password-1"), 401, "invalid_credentials")
    r = _login(api, user["username"], "wrong-password-1")
    assert_problem(r, 423, "account_locked")
    minutes = idm.settings()["lockout_minutes"]
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= minutes * 60, retry
    assert retry > minutes * 60 - 120, retry

    r = _login(api, user["username"], pw)
    assert_problem(r, 423, "account_locked")
    assert 0 < int(r.headers["Retry-After"]) <= minutes * 60

    shown = idm.admin.get(f"{V1}/users/{user['id']}").json()
    assert shown["locked_until"] and shown["locked_until"].endswith("Z"), shown


def test_success_resets_the_failure_count(idm, api):
    n = _threshold(idm)
    user, pw = idm.create_user("manager")
    for _ in range(n - 1):
        assert_problem(_login(api, user["username"], "wrong-password-2"), 401, "invalid_credentials")
    assert _login(api, user["username"], pw).status_code == 200
    # without the reset this would be failure number n, which locks
    assert_problem(_login(api, user["username"], "wrong-password-2"), 401, "invalid_credentials")
    assert _login(api, user["username"], pw).status_code == 200


def test_unlock_clears_the_lock(idm, api):
    n = _threshold(idm)
    user, pw = idm.create_user("driver")
    for _ in range(n):
        r = _login(api, user["username"], "wrong-password-3")
    assert_problem(r, 423, "account_locked")
    assert_problem(_login(api, user["username"], pw), 423, "account_locked")

    r = idm.admin.post(f"{V1}/users/{user['id']}/unlock")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == USER_KEYS
    assert body["id"] == user["id"] and body["locked_until"] is None
    # the count starts again from zero: one more failure is a plain 401, not a new lock
    assert_problem(_login(api, user["username"], "wrong-password-3"), 401, "invalid_credentials")
    assert _login(api, user["username"], pw).status_code == 200


def test_expired_lock_lets_the_user_in_and_starts_a_new_count(idm, api, pg):
    n = _threshold(idm)
    user, pw = idm.create_user("manager")
    for _ in range(n):
        r = _login(api, user["username"], "wrong-password-4")
    assert_problem(r, 423, "account_locked")
    # let the lock run out (lockout_minutes is at least a minute: move the clock instead)
    pg.sql(f"UPDATE users SET locked_until = now() - interval '1 second' WHERE id = {int(user['id'])}")
    # one more failure after the lock ran out is an ordinary 401, not a new lock
    assert_problem(_login(api, user["username"], "wrong-password-4"), 401, "invalid_credentials")
    assert _login(api, user["username"], pw).status_code == 200


def test_unlock_unknown_user_is_404(idm):
    r = idm.admin.post(f"{V1}/users/999999999/unlock")
    assert_problem(r, 404, "not_found")


def test_deactivated_user_with_right_password_is_403(idm, api):
    user, pw = idm.create_user("manager")
    assert idm.admin.delete(f"{V1}/users/{user['id']}").status_code == 204
    assert_problem(_login(api, user["username"], pw), 403, "account_disabled")
    assert_problem(_login(api, user["username"], pw + "x"), 401, "invalid_credentials")


# --- refresh and logout -------------------------------------------------------------

def test_refresh_rotates_the_pair(idm, api):
    user, pw = idm.create_user("driver")
    first = api.login(user["username"], pw)
    r = api.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["token_type"] == "Bearer" and second["expires_in"] == 900
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == user["id"]
    _, claims = jwt_parts(second["access_token"])
    assert claims["sub"] == str(user["id"]) and claims["role"] == "driver"
    me = api.get(ME, headers={"Authorization": "Bearer " + second["access_token"]})
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    # the new refresh token works once more
    r = api.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 200, r.text


def test_refresh_token_reuse_revokes_every_refresh_token_of_the_user(idm, api):
    user, pw = idm.create_user("manager")
    session_a = api.login(user["username"], pw)
    session_b = api.login(user["username"], pw)  # another device
    rotated = api.post(REFRESH, json={"refresh_token": session_a["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    new_a = rotated.json()

    reused = api.post(REFRESH, json={"refresh_token": session_a["refresh_token"]})
    assert_problem(reused, 401, "unauthorized")
    # every refresh token of that user is now revoked ...
    assert_problem(api.post(REFRESH, json={"refresh_token": new_a["refresh_token"]}), 401)
    assert_problem(api.post(REFRESH, json={"refresh_token": session_b["refresh_token"]}), 401)
    # ... but access tokens run to their exp
    me = api.get(ME, headers={"Authorization": "Bearer " + new_a["access_token"]})
    assert me.status_code == 200, me.text
    # and a new login works
    assert _login(api, user["username"], pw).status_code == 200


def test_two_refreshes_of_one_token_at_once_leave_no_live_successor(idm, api):
    """Two requests present the same refresh token at the same moment (a
    thief's copy and the owner's, or a client that retried): one rotates it,
    the other is a reuse, and a reuse revokes every refresh token of the
    user - including the successor the winner was just given. Rotation is
    one statement, so the reuse always finds that successor; when the
    revocation and the new token were two statements, the reuse could run
    between them and the winner kept a live session (2 runs in 5). Eight
    rounds."""
    user, pw = idm.create_user("manager")
    for _ in range(8):
        token = api.login(user["username"], pw)["refresh_token"]
        barrier = threading.Barrier(2)
        answers = []

        def refresh():
            a = Api(api.base)
            try:
                a.get("/health")  # connected before the start line
                barrier.wait(timeout=30)
                answers.append(a.post(REFRESH, json={"refresh_token": token}, timeout=30))
            finally:
                a.close()
        threads = [threading.Thread(target=refresh) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 401], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert_problem(api.post(REFRESH, json={"refresh_token": winner["refresh_token"]}), 401)


def test_refresh_with_unknown_or_missing_token(api):
    assert_problem(api.post(REFRESH, json={"refresh_token": "not-a-real-refresh-token-0123456789"}),
                   401, "unauthorized")
    assert "refresh_token" in field_names(api.post(REFRESH, json={}))


def test_logout_revokes_the_refresh_token(idm, api):
    user, pw = idm.create_user("manager")
    pair = api.login(user["username"], pw)
    other = api.login(user["username"], pw)
    r = api.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 204, r.text
    assert r.content == b""
    # only that session ends: the other device's refresh token still works
    r = api.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200, r.text
    other2 = r.json()
    # the logged-out token is refused; presenting a revoked token revokes them all (API.md)
    assert_problem(api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(api.post(REFRESH, json={"refresh_token": other2["refresh_token"]}), 401)


def test_refresh_of_a_deactivated_user_is_401(idm, api):
    user, pw = idm.create_user("driver")
    pair = api.login(user["username"], pw)
    assert idm.admin.delete(f"{V1}/users/{user['id']}").status_code == 204
    assert_problem(api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)


@pytest.mark.parametrize("change", [{"password": "a new Passw0rd that is long"},
                                    {"is_active": False}])
def test_an_admins_password_reset_or_deactivation_revokes_refresh_tokens(idm, api, change):
    """A password an admin sets (a lost or stolen phone) or a deactivation
    through PATCH /users/{id} ends the user's sessions, as DELETE and the
    user's own password change do: their refresh token is refused."""
    user, pw = idm.create_user("manager")
    pair = api.login(user["username"], pw)
    r = idm.admin.patch(f"{V1}/users/{user['id']}", json=change)
    assert r.status_code == 200, r.text
    assert_problem(api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), 401)


def test_an_admins_other_edits_keep_the_sessions(idm, api):
    user, pw = idm.create_user("manager")
    pair = api.login(user["username"], pw)
    r = idm.admin.patch(f"{V1}/users/{user['id']}", json={"full_name": "Renamed Manager"})
    assert r.status_code == 200, r.text
    r = api.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200, r.text


# --- /auth/me and password ----------------------------------------------------------

def test_me_returns_the_caller(idm):
    user, pw, me_api = idm.user_client("manager", email=f"{uniq('me')}@example.test")
    try:
        r = me_api.get(ME)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == USER_KEYS, body
        assert body["id"] == user["id"] and body["username"] == user["username"]
        assert body["email"] == user["email"] and body["is_active"] is True
        assert body["created_at"].endswith("Z")
    finally:
        me_api.close()


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=",
                                           "Bearer not.a.jwt", "Bearer abc"])
def test_me_without_a_usable_token_is_401(api, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_problem(api.get(ME, headers=headers), 401, "unauthorized")


def test_password_change(idm, api):
    user, old, me_api = idm.user_client("driver")
    try:
        r = me_api.post(PASSWORD, json={"current_password": old + "x", "new_password": "new-password-123"})
        assert "current_password" in field_names(r)
        r = me_api.post(PASSWORD, json={"current_password": old, "new_password": "short-123"})  # 9
        assert "new_password" in field_names(r)
        assert _login(api, user["username"], old).status_code == 200  # nothing changed yet

        r = me_api.post(PASSWORD, json={"current_password": old, "new_password": "new-password-123"})
        assert r.status_code == 204, r.text
        assert r.content == b""
        assert_problem(_login(api, user["username"], old), 401, "invalid_credentials")
        assert _login(api, user["username"], "new-password-123").status_code == 200
    finally:
        me_api.close()


def test_a_password_change_keeps_only_the_session_that_names_itself(idm, api):
    """A new password ends every session; the caller may name its own
    refresh token to keep that one (the device where the password was
    changed stays logged in). Without it, that session ends too."""
    user, old, me_api = idm.user_client("manager")
    try:
        here = api.login(user["username"], old)
        elsewhere = api.login(user["username"], old)
        r = me_api.post(PASSWORD, json={"current_password": old, "new_password": "new-password-123",
                                        "refresh_token": here["refresh_token"]})
        assert r.status_code == 204, r.text
        assert api.post(REFRESH, json={"refresh_token": here["refresh_token"]}).status_code == 200
        assert_problem(api.post(REFRESH, json={"refresh_token": elsewhere["refresh_token"]}), 401)
        # another user's token named in the body protects nothing of theirs
        other, other_pw = idm.create_user("manager")
        theirs = api.login(other["username"], other_pw)
        again = api.login(user["username"], "new-password-123")
        r = me_api.post(PASSWORD, json={"current_password": "new-password-123",
                                        "new_password": "newer-password-456",
                                        "refresh_token": theirs["refresh_token"]})
        assert r.status_code == 204, r.text
        assert_problem(api.post(REFRESH, json={"refresh_token": again["refresh_token"]}), 401)
        assert api.post(REFRESH, json={"refresh_token": theirs["refresh_token"]}).status_code == 200
    finally:
        me_api.close()


def test_wrong_current_passwords_count_toward_the_lockout(idm, api):
    """A stolen access token must not buy unlimited guesses of the password:
    wrong current passwords of POST /auth/password count as failed logins,
    so the threshold locks the account (423) for the change and the login."""
    user, pw, me_api = idm.user_client("manager")
    try:
        threshold = idm.settings()["lockout_threshold"]
        for _ in range(threshold - 1):
            r = me_api.post(PASSWORD, json={"current_password": pw + "?",
                                            "new_password": "new-password-123"})
            assert "current_password" in field_names(r)
        r = me_api.post(PASSWORD, json={"current_password": pw + "?", "new_password": "new-password-123"})
        assert_problem(r, 423, "account_locked")
        assert int(r.headers["Retry-After"]) > 0
        # locked: even the right current password is refused, and so is a login
        assert_problem(me_api.post(PASSWORD, json={"current_password": pw,
                                                   "new_password": "new-password-123"}), 423)
        assert_problem(_login(api, user["username"], pw), 423, "account_locked")
    finally:
        me_api.close()


# --- forged and tampered access tokens -------------------------------------------------

def _forgeries(secret, uid, role):
    now = int(time.time())
    good = make_jwt(access_claims(uid, role), secret)
    h, p, s = good.split(".")
    tampered_payload = b64url(json.dumps(access_claims(uid, "admin", now=now)))
    claims_without = {k: {c: v for c, v in access_claims(uid, role).items() if c != k}
                      for k in ("sub", "role", "exp")}
    return {
        "tampered_payload": f"{h}.{tampered_payload}.{s}",
        "tampered_signature": f"{h}.{p}.{s[:-2]}{'AA' if s[-2:] != 'AA' else 'BB'}",
        "alg_none": make_jwt(access_claims(uid, role), secret, alg="none"),
        "alg_none_keeping_signature": make_jwt(access_claims(uid, role), secret,
                                               header={"alg": "none", "typ": "JWT"}, signature=s),
        "hs512_same_secret": make_jwt(access_claims(uid, role), secret, alg="HS512"),
        "hs256_other_secret": make_jwt(access_claims(uid, role), secret[::-1] + "x"),
        "expired": make_jwt(access_claims(uid, role, now=now - 2000, ttl=900), secret),
        "missing_sub": make_jwt(claims_without["sub"], secret),
        "missing_role": make_jwt(claims_without["role"], secret),
        "missing_exp": make_jwt(claims_without["exp"], secret),
        "typ_refresh": make_jwt(access_claims(uid, role, typ="refresh"), secret),
        "unknown_role": make_jwt(access_claims(uid, "superuser"), secret),
        "sub_not_a_user": make_jwt(access_claims(999999999, role), secret),
        "role_not_the_users": make_jwt(access_claims(uid, "admin"), secret),
        "two_parts": f"{h}.{p}",
    }


FORGERIES = ["tampered_payload", "tampered_signature", "alg_none", "alg_none_keeping_signature",
             "hs512_same_secret", "hs256_other_secret", "expired", "missing_sub", "missing_role",
             "missing_exp", "typ_refresh", "unknown_role", "sub_not_a_user", "role_not_the_users",
             "two_parts"]


@pytest.fixture(scope="module")
def forge_target(idm):
    user, _ = idm.create_user("manager")
    return user


def test_a_token_made_with_the_secret_is_accepted(api, jwt_secret, forge_target):
    """The control for the forgeries below: the same construction, done right, works."""
    tok = make_jwt(access_claims(forge_target["id"], "manager"), jwt_secret)
    r = api.get(ME, headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == forge_target["id"]
    r = api.get(V1 + "/drivers", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_or_tampered_token_is_401(api, jwt_secret, forge_target, kind):
    tok = _forgeries(jwt_secret, forge_target["id"], "manager")[kind]
    r = api.get(ME, headers={"Authorization": "Bearer " + tok})
    assert_problem(r, 401, "unauthorized")
    # an admin-only route must not turn it into a 403 either
    r = api.get(V1 + "/users", headers={"Authorization": "Bearer " + tok})
    assert_problem(r, 401, "unauthorized")


# --- hashing does not serialize the server ------------------------------------------------

def test_logins_do_not_hold_up_other_requests(idm, daemon):
    users = [idm.create_user("driver") for _ in range(4)]
    results = []

    def worker(u, p):
        a = Api(daemon.url())
        try:
            for _ in range(3):
                results.append(_login(a, u["username"], p).status_code)
        finally:
            a.close()

    threads = [threading.Thread(target=worker, args=(u, p), daemon=True) for u, p in users]
    for t in threads:
        t.start()
    probe = Api(daemon.url())
    timings = []
    try:
        time.sleep(0.05)
        for _ in range(5):
            if not any(t.is_alive() for t in threads):
                break
            t0 = time.monotonic()
            r = probe.get("/health", timeout=10)
            timings.append(time.monotonic() - t0)
            assert r.status_code == 200
            time.sleep(0.02)
    finally:
        for t in threads:
            t.join(timeout=60)
        probe.close()
    assert results == [200] * 12, results
    assert timings, "the logins finished before /health could be measured"
    assert max(timings) < 0.5, timings
