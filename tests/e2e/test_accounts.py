"""Accounts (SPEC section 12): register, login (JSON and OAuth2 form), refresh rotation
and theft detection, logout, password change, account deletion, the sign-in throttle,
the CLI, and hostile input. Passwords, refresh tokens and hashes never reach a log or
an error body."""
import concurrent.futures
import re
import subprocess
import time
import uuid

import jwt
import pytest

from helpers import png_bytes, validation_entries, wait_until

PASSWORD = "correct horse battery"
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "user_id", "email"}
BAD_LOGIN = {"detail": "Incorrect email or password"}


def email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def post(server, path, body=None, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        kw["json"] = body
    return server.http.post(server.base + path, headers=headers, timeout=30, **kw)


def register(server, addr=None, password=PASSWORD, expect=201) -> dict:
    r = post(server, "/api/auth/register", {"email": addr or email(), "password": password})
    assert r.status_code == expect, r.text
    body = r.json()
    if expect == 201:
        server.issued_tokens.append(body["access_token"])
    return body


def login(server, addr, password=PASSWORD) -> "requests.Response":
    r = post(server, "/api/auth/login", {"email": addr, "password": password})
    if r.status_code == 200:
        server.issued_tokens.append(r.json()["access_token"])
    return r


def bearer(tok: str) -> dict:
    return {"Authorization": f"Bearer {tok}"}


def check_token_answer(server, body: dict, addr: str | None):
    assert set(body) == TOKEN_KEYS, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["email"] == addr
    uuid.UUID(body["user_id"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["refresh_token"]), body["refresh_token"]
    claims = jwt.decode(body["access_token"], server.secret, algorithms=["HS256"])
    assert claims["sub"] == body["user_id"]
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60


def test_register_me_and_tokens(server):
    addr = email()
    body = register(server, "  " + addr.upper() + " ")
    check_token_answer(server, body, addr)  # trimmed and lowercased
    uid = body["user_id"]

    r = server.http.get(server.base + "/api/auth/me", headers=bearer(body["access_token"]))
    assert r.status_code == 200, r.text
    me = r.json()
    assert set(me) == {"user_id", "email", "created_at"}
    assert me["user_id"] == uid and me["email"] == addr
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", me["created_at"])

    # the access token is an ordinary §4 token: the gallery takes it
    r = server.http.get(server.base + "/api/drawings/gallery", headers=bearer(body["access_token"]))
    assert r.status_code == 200 and r.json()["count"] == 0

    # at rest: an argon2id PHC string at OWASP's minimum cost, never the password;
    # refresh tokens only as their SHA-256
    stored = server.db_scalar(f"SELECT password_hash FROM users WHERE email = '{addr}'")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
    assert PASSWORD not in stored
    n = server.db_scalar(f"SELECT count(*) FROM refresh_tokens WHERE user_id = '{uid}'")
    assert n == "1"
    if not server.is_postgres:
        h = server.db_scalar(f"SELECT hex(token_hash) FROM refresh_tokens WHERE user_id = '{uid}'")
        import hashlib
        assert h.lower() == hashlib.sha256(body["refresh_token"].encode()).hexdigest()


def test_register_twice_is_409_whatever_the_case(server):
    addr = email()
    register(server, addr)
    r = post(server, "/api/auth/register", {"email": addr.upper(), "password": "another password"})
    assert r.status_code == 409
    assert r.json() == {"detail": "Email already registered"}


@pytest.mark.parametrize("bad", [
    "", "plainaddress", "a@b", "@example.com", "a@@example.com", "a@b@example.com",
    "a@.example.com", "a@example.com.", "a b@example.com", "a\tb@example.com",
    "a\x00b@example.com", "a\x1b@example.com", "a\u0085@example.com",
    "x" * 250 + "@example.com", "x" * 10000 + "@example.com",
])
def test_register_refuses_bad_emails(server, bad):
    r = post(server, "/api/auth/register", {"email": bad, "password": PASSWORD})
    assert r.status_code == 422, r.text
    entries = validation_entries(r.json())
    assert [e["loc"] for e in entries] == [["body", "email"]], entries
    assert PASSWORD not in r.text


@pytest.mark.parametrize("password, kind", [
    ("1234567", "string_too_short"),
    ("x" * 257, "string_too_long"),
    ("", "string_too_short"),
    (12345678, "string_type"),
    (None, "missing"),
    (["a list of words"], "string_type"),
])
def test_register_refuses_bad_passwords_without_echoing_them(server, password, kind):
    body = {"email": email()}
    if password is not None:
        body["password"] = password
    r = post(server, "/api/auth/register", body)
    assert r.status_code == 422, r.text
    entries = validation_entries(r.json())
    assert [(e["loc"], e["type"]) for e in entries] == [(["body", "password"], kind)]
    assert entries[0].get("input") in (None, password if kind == "string_type" else None)
    if isinstance(password, str) and password:
        assert password not in r.text


def test_unicode_password_counts_characters(server):
    addr = email()
    pw = "ключ🔑ключ"  # 9 characters, 20 bytes
    register(server, addr, pw)
    assert login(server, addr, pw).status_code == 200
    r = post(server, "/api/auth/register", {"email": email(), "password": "ключ🔑🔑"})  # 7
    assert r.status_code == 422


def test_hostile_bodies(server):
    url = server.base + "/api/auth/register"
    cases = [
        (b"", "application/json", 422),
        (b"{", "application/json", 422),
        (b"[]", "application/json", 422),
        (b'"x"', "application/json", 422),
        (b'{"email": "a@b.co", "password": "12345678"} trailing', "application/json", 422),
        (b'{"email": "a@b.co", "email": "c@d.co", "password": "12345678"}', "application/json", 422),
        (b'{"email": "a@b.co", "password": "12345678"}', "text/plain", 422),
        (b"email=a%40b.co&password=12345678", "application/x-www-form-urlencoded", 422),
        (b"\xff\xfe{}", "application/json", 422),
    ]
    for data, ct, status in cases:
        r = server.http.post(url, data=data, headers={"Content-Type": ct}, timeout=30)
        assert r.status_code == status, (data, ct, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        assert isinstance(r.json()["detail"], list) and r.json()["detail"], r.text
    # a body past 64 KiB (a 1 MB password) is refused before it is read
    big = b'{"email": "a@b.co", "password": "' + b"x" * 1_000_000 + b'"}'
    r = server.http.post(url, data=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413, r.text
    assert "detail" in r.json()


def test_login_json_and_oauth2_form(server):
    addr = email()
    uid = register(server, addr)["user_id"]
    r = login(server, " " + addr.upper())
    assert r.status_code == 200, r.text
    check_token_answer(server, r.json(), addr)
    assert r.json()["user_id"] == uid
    # OAuth2's password flow (Swagger UI's "Authorize"): a form with username
    r = server.http.post(server.base + "/api/auth/login",
                         data={"username": addr, "password": PASSWORD, "grant_type": "password"},
                         timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == uid
    server.issued_tokens.append(r.json()["access_token"])


def test_wrong_password_and_unknown_email_look_the_same(server):
    addr = email()
    register(server, addr)
    wrong = login(server, addr, "not the password")
    unknown = login(server, email(), PASSWORD)
    for r in (wrong, unknown):
        assert r.status_code == 401, r.text
        assert r.json() == BAD_LOGIN
        assert r.headers.get("WWW-Authenticate") == "Bearer"


def test_failed_logins_lock_the_email_for_the_window(server):
    addr = email()
    register(server, addr)
    for i in range(10):
        assert login(server, addr, f"wrong password {i}").status_code == 401
    r = login(server, addr)  # the right password, but the e-mail is locked
    assert r.status_code == 429, r.text
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 900
    assert "detail" in r.json()
    # an e-mail nobody registered is locked the same way: the 429 says nothing
    ghost = email()
    for i in range(10):
        assert login(server, ghost, "whatever pw").status_code == 401
    assert login(server, ghost, "whatever pw").status_code == 429
    # another e-mail is not affected
    other = email()
    register(server, other)
    assert login(server, other).status_code == 200
    # once the failures have left the window, the right password works again
    server.db_exec("UPDATE login_failures SET failed_at = failed_at - 901000",
                   "UPDATE login_failures SET failed_at = failed_at - interval '901 seconds'")
    assert login(server, addr).status_code == 200
    # a success forgets the failures: 9 more do not lock
    for i in range(9):
        assert login(server, addr, f"wrong again {i}").status_code == 401
    assert login(server, addr).status_code == 200


def refresh(server, tok):
    return post(server, "/api/auth/refresh", {"refresh_token": tok})


def test_refresh_rotates_and_reuse_revokes_the_family(server):
    addr = email()
    first = register(server, addr)
    r = refresh(server, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    server.issued_tokens.append(second["access_token"])
    check_token_answer(server, second, addr)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user_id"] == first["user_id"]

    # an independent login is another family: it survives the theft below
    other = login(server, addr).json()

    # the spent token again: 401, and the whole family (its successor too) is revoked
    r = refresh(server, first["refresh_token"])
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid refresh token"}
    assert refresh(server, second["refresh_token"]).status_code == 401
    log = server.log_text()
    assert re.search(rf"warn.*{first['user_id']}.*spent refresh token", log), log[-2000:]
    assert refresh(server, other["refresh_token"]).status_code == 200

    for tok in ("", "x", "A" * 43, "A" * 44, "!" * 43, "a" * 10000):
        r = refresh(server, tok)
        assert r.status_code in (401, 422), (tok[:20], r.text)
    r = post(server, "/api/auth/refresh", {})
    assert r.status_code == 422
    assert [e["loc"] for e in validation_entries(r.json())] == [["body", "refresh_token"]]


def test_expired_refresh_token(server):
    body = register(server)
    server.db_exec("UPDATE refresh_tokens SET expires_at = expires_at - 2592001000",
                   "UPDATE refresh_tokens SET expires_at = expires_at - interval '2592001 seconds'")
    assert refresh(server, body["refresh_token"]).status_code == 401


def test_logout_revokes_the_family(server):
    body = register(server)
    nxt = refresh(server, body["refresh_token"]).json()
    r = post(server, "/api/auth/logout", {"refresh_token": nxt["refresh_token"]})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert refresh(server, nxt["refresh_token"]).status_code == 401
    # an unknown token: nothing to do, same answer
    r = post(server, "/api/auth/logout", {"refresh_token": "A" * 43})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert post(server, "/api/auth/logout", {"refresh_token": 5}).status_code == 422


def test_change_password(server):
    addr = email()
    body = register(server, addr)
    tok = body["access_token"]
    r = post(server, "/api/auth/password", {"current_password": "wrong one!", "new_password": "n" * 12},
             token=tok)
    assert r.status_code == 403 and r.json() == {"detail": "Incorrect password"}
    r = post(server, "/api/auth/password", {"current_password": PASSWORD, "new_password": "tiny7"},
             token=tok)
    assert r.status_code == 422
    assert [e["loc"] for e in validation_entries(r.json())] == [["body", "new_password"]]
    assert "tiny7" not in r.text
    r = post(server, "/api/auth/password", {"current_password": PASSWORD, "new_password": "new password 1"},
             token=tok)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert refresh(server, body["refresh_token"]).status_code == 401  # all revoked
    assert login(server, addr).status_code == 401
    assert login(server, addr, "new password 1").status_code == 200
    # no token: 401 before anything else
    r = post(server, "/api/auth/password", {"current_password": "x", "new_password": "y" * 8})
    assert r.status_code == 401


def test_delete_account_removes_everything(server):
    addr = email()
    body = register(server, addr)
    tok, uid = body["access_token"], body["user_id"]
    r = server.http.post(server.base + "/api/drawings", headers=bearer(tok),
                         files={"file": ("d.png", png_bytes(64, 64), "image/png")}, timeout=30)
    assert r.status_code == 201, r.text
    assert server.media_files(uid), "the upload stored no object"

    url = server.base + "/api/auth/me"
    r = server.http.delete(url, headers=bearer(tok), json={"password": "wrong password"}, timeout=30)
    assert r.status_code == 403 and r.json() == {"detail": "Incorrect password"}
    r = server.http.delete(url, headers=bearer(tok), json={}, timeout=30)
    assert r.status_code == 422
    assert [e["loc"] for e in validation_entries(r.json())] == [["body", "password"]]
    r = server.http.delete(url, headers=bearer(tok), json={"password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "message": "Account deleted"}

    # the old access token is refused; rows are gone; the objects go with the job queue
    r = server.http.get(server.base + "/api/drawings/gallery", headers=bearer(tok), timeout=30)
    assert r.status_code == 401
    assert r.json() == {"detail": "Could not validate credentials"}
    assert server.db_scalar(f"SELECT count(*) FROM drawings WHERE user_id = '{uid}'") == "0"
    assert server.db_scalar(f"SELECT count(*) FROM users WHERE id = '{uid}'") == "0"
    assert server.db_scalar(f"SELECT count(*) FROM refresh_tokens WHERE user_id = '{uid}'") == "0"
    wait_until(lambda: not server.media_files(uid), what="the account's objects deleted")
    assert refresh(server, body["refresh_token"]).status_code == 401
    # the e-mail is free again, for a new account
    again = register(server, addr)
    assert again["user_id"] != uid


def test_outside_token_users(server, user):
    # a user known only from tokens of an outside issuer: no e-mail, no password
    r = server.get("/api/auth/me", user)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == user and r.json()["email"] is None
    r = post(server, "/api/auth/password", {"current_password": "whatever1", "new_password": "whatever2"},
             token=server.token(user))
    assert r.status_code == 403
    r = server.delete("/api/auth/me", user)
    assert r.status_code == 200, r.text
    # tokens issued before the deletion are refused; one issued after it works again
    old = server.token(user, iat=int(time.time()) - 5)
    assert server.http.get(server.base + "/api/drawings/gallery", headers=bearer(old)).status_code == 401
    assert server.http.get(server.base + "/api/drawings/gallery",
                           headers=bearer(server.token(user))).status_code == 401  # same second
    newer = server.token(user, iat=int(time.time()) + 5)
    assert server.http.get(server.base + "/api/drawings/gallery", headers=bearer(newer)).status_code == 200


def test_registration_closed_and_cli(server_factory):
    s = server_factory(env={"REGISTRATION": "closed"})
    r = post(s, "/api/auth/register", {"email": email(), "password": PASSWORD})
    assert r.status_code == 403 and r.json() == {"detail": "Registration is closed"}

    addr = email()
    r = subprocess.run([s.binary, "user", "add", "--email", addr], env=s.env, cwd=s.cwd,
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    uid = r.stdout.strip()
    uuid.UUID(uid)
    r2 = login(s, addr)
    assert r2.status_code == 200 and r2.json()["user_id"] == uid
    # the same e-mail again, a short password, a bad e-mail: usage errors, nothing created
    r = subprocess.run([s.binary, "user", "add", "--email", addr.upper()], env=s.env, cwd=s.cwd,
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "registered already" in r.stderr
    pwfile = s.workdir / "pw.txt"
    pwfile.write_text("short\n")
    r = s.cli("user", "add", "--email", email(), "--password-file", str(pwfile))
    assert r.returncode == 2 and "short" not in r.stderr
    r = s.cli("user", "add", "--email", "not-an-email")
    assert r.returncode == 2
    assert PASSWORD not in s.log_text()

    r = s.cli("user", "delete", "--email", addr)
    assert r.returncode == 0, r.stderr
    assert login(s, addr).status_code == 401
    r = s.cli("user", "delete", "--email", addr)
    assert r.returncode == 1 and "no account" in r.stderr


def test_old_hashes_are_rehashed_at_the_new_cost(server_factory, tmp_path):
    wd = tmp_path / "rehash"
    s = server_factory(workdir=wd)
    addr = email()
    register(s, addr)
    s.stop_and_check()
    s2 = server_factory(workdir=wd, env={"PASSWORD_ITERATIONS": "3", "JWT_SECRET": s.secret})
    assert s2.db_scalar(f"SELECT password_hash FROM users WHERE email = '{addr}'").startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$")
    assert login(s2, addr).status_code == 200  # the old hash still verifies
    assert s2.db_scalar(f"SELECT password_hash FROM users WHERE email = '{addr}'").startswith(
        "$argon2id$v=19$m=19456,t=3,p=1$")
    assert login(s2, addr).status_code == 200


def test_password_work_is_bounded(server_factory):
    s = server_factory(env={"PASSWORD_QUEUE": "1"})
    addr = email()
    register(s, addr)
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        rs = list(ex.map(lambda _: login(s, addr), range(12)))
    codes = sorted(r.status_code for r in rs)
    assert set(codes) <= {200, 503}, codes
    assert 200 in codes and 503 in codes, codes
    for r in rs:
        if r.status_code == 503:
            assert r.headers.get("Retry-After") == "1"


def test_no_secret_in_logs(server):
    addr = email()
    body = register(server, addr)
    nxt = refresh(server, body["refresh_token"]).json()
    login(server, addr, "a wrong password")
    log = server.log_text()
    for secret in (PASSWORD, "a wrong password", body["refresh_token"], nxt["refresh_token"],
                   body["access_token"], addr):
        assert secret not in log
    assert "$argon2id$" not in log


def test_unknown_email_costs_what_a_wrong_password_costs(server):
    import statistics
    addr = email()
    register(server, addr)

    def timed(who, pw):
        t = time.monotonic()
        r = login(server, who, pw)
        assert r.status_code == 401, r.text
        return time.monotonic() - t

    # interleaved, 7 of each (under the lockout's 10)
    wrong, unknown = [], []
    for i in range(7):
        wrong.append(timed(addr, f"wrong password {i}"))
        unknown.append(timed(email(), "wrong password"))
    mw, mu = statistics.median(wrong), statistics.median(unknown)
    assert 0.5 < mu / mw < 2.0, (wrong, unknown)


def test_two_servers_share_refresh_state_lockouts_and_deletions(server_factory, tmp_path):
    shared = tmp_path / "shared-data"
    shared.mkdir()
    env = {"DATA_DIR": str(shared), "JWT_SECRET": "shared-secret-0123456789abcdef"}
    a, b = server_factory(env=env), server_factory(env=env)

    # a refresh token of one server works once, on either
    addr = email()
    first = register(a, addr)
    r = refresh(b, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert refresh(a, first["refresh_token"]).status_code == 401  # reuse: family revoked
    assert refresh(b, second["refresh_token"]).status_code == 401

    # failures on one server lock the e-mail on the other
    for i in range(10):
        assert login(a if i % 2 else b, addr, f"wrong {i}").status_code == 401
    assert login(b, addr).status_code == 429
    assert login(a, addr).status_code == 429

    # a deletion through one: the other refuses the old access token within its
    # re-check period (it has seen the user, so it holds it in its cache)
    other = register(b)
    tok = other["access_token"]
    assert b.http.get(b.base + "/api/drawings/gallery", headers=bearer(tok)).status_code == 200
    r = a.http.delete(a.base + "/api/auth/me", headers=bearer(tok), json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    assert a.http.get(a.base + "/api/drawings/gallery", headers=bearer(tok)).status_code == 401
    wait_until(lambda: b.http.get(b.base + "/api/drawings/gallery",
                                  headers=bearer(tok)).status_code == 401,
               timeout=15, what="the other server refusing the deleted account's token")
