"""Bearer-token authentication of every /api/ route (SPEC section 4)."""
import base64
import json
import os
import time
import uuid

import pytest

from conftest import random_secret
from helpers import new_user, png_bytes

NOT_AUTH = {"detail": "Not authenticated"}
BAD_CREDS = {"detail": "Could not validate credentials"}

API_ROUTES = [
    ("GET", "/api/drawings/gallery"),
    ("GET", "/api/drawings/gallery?page=1&limit=20"),
    ("GET", "/api/drawings/550e8400-e29b-41d4-a716-446655440000"),
    ("DELETE", "/api/drawings/550e8400-e29b-41d4-a716-446655440000"),
    ("GET", "/api/drawings/stats/summary"),
    ("POST", "/api/drawings"),
    ("GET", "/api/tutorials"),
    # Authentication comes before parameter validation: no 422 leaks to strangers.
    ("GET", "/api/drawings/not-a-uuid"),
    ("GET", "/api/drawings/gallery?page=0&limit=1000"),
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict, payload: dict, sig: bytes = b"") -> str:
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()),
                     b64url(sig)])


def assert_401(r, body):
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    assert r.json() == body
    www = r.headers.get("WWW-Authenticate", "")
    assert www.split()[0:1] == ["Bearer"], f"WWW-Authenticate is {www!r}"


@pytest.mark.parametrize("method,path", API_ROUTES)
def test_no_authorization_header(server, method, path):
    r = server.request(method, path)
    assert_401(r, NOT_AUTH)
    assert r.headers.get("X-Request-Id")


def _bad_tokens(server, user):
    now = int(time.time())
    good = server.token(user)
    h, p, s = good.split(".")
    other_payload = b64url(json.dumps({"sub": new_user(), "exp": now + 3600}).encode())
    return {
        "alg_none": server.token(user, algorithm="none", key=""),
        "alg_none_with_signature": handmade({"alg": "none", "typ": "JWT"},
                                            {"sub": user, "exp": now + 3600}) + s,
        "hs384_right_secret": server.token(user, algorithm="HS384"),
        "hs512_right_secret": server.token(user, algorithm="HS512"),
        "rs256_header": handmade({"alg": "RS256", "typ": "JWT"}, {"sub": user, "exp": now + 3600},
                                 os.urandom(256)),
        "wrong_secret": server.token(user, key="not-the-secret-" + "q" * 40),
        "expired": server.token(user, exp=now - 3600),
        "expired_long_ago": server.token(user, exp=1),
        "missing_exp": server.token(user, exp=None),
        "exp_not_a_number": server.token(user, exp="tomorrow"),
        "nbf_in_future": server.token(user, nbf=now + 3600),
        "iat_far_in_future": server.token(user, iat=now + 86400 * 365),
        "sub_not_uuid": server.token("alice"),
        "sub_almost_uuid": server.token(user[:-1] + "g"),
        "sub_empty": server.token(""),
        "sub_integer": server.token(12345),
        "missing_sub": server.token(None),
        "garbage": "garbage",
        "three_dots_garbage": "a.b.c",
        "empty_segments": "..",
        "extra_fourth_segment": good + ".AAAA",
        "truncated_signature": good[:-6],
        "tampered_payload": h + "." + other_payload + "." + s,
        "signature_of_other_token": ".".join([h, p, server.token(new_user()).split(".")[2]]),
        "not_base64": "!!!.@@@.###",
        "oversized": "e" * 20000,
    }


BAD_NAMES = [
    "alg_none", "alg_none_with_signature", "hs384_right_secret", "hs512_right_secret",
    "rs256_header", "wrong_secret", "expired", "expired_long_ago", "missing_exp",
    "exp_not_a_number", "nbf_in_future", "iat_far_in_future", "sub_not_uuid", "sub_almost_uuid",
    "sub_empty", "sub_integer", "missing_sub", "garbage", "three_dots_garbage", "empty_segments",
    "extra_fourth_segment", "truncated_signature", "tampered_payload",
    "signature_of_other_token", "not_base64", "oversized",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_token_is_rejected(server, name):
    user = new_user()
    tok = _bad_tokens(server, user)[name]
    for method, path in (("GET", "/api/drawings/gallery"), ("GET", "/api/drawings/stats/summary")):
        r = server.request(method, path, headers={"Authorization": f"Bearer {tok}"})
        assert_401(r, BAD_CREDS)
        assert tok not in r.text or len(tok) < 8


@pytest.mark.parametrize("value", ["Bearer ", "Bearer", "Basic xxx",
                                   "Basic " + base64.b64encode(b"user:pass").decode(),
                                   "Token abc.def.ghi", "Bearer  "])
def test_bad_authorization_schemes(server, value):
    r = server.get("/api/drawings/gallery", headers={"Authorization": value})
    assert_401(r, BAD_CREDS)


# RFC 6750 section 3.1 challenges (SPEC sections 4 and 16): the body never changes,
# the header tells an expired token (refresh it) from any other refused one.
EXPIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="The access token expired"'
INVALID_CHALLENGE = 'Bearer error="invalid_token"'
EXPIRED_NAMES = {"expired", "expired_long_ago"}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_only_an_expired_token_is_said_to_have_expired(server, name):
    tok = _bad_tokens(server, new_user())[name]
    r = server.get("/api/drawings/gallery", headers={"Authorization": f"Bearer {tok}"})
    assert_401(r, BAD_CREDS)
    want = EXPIRED_CHALLENGE if name in EXPIRED_NAMES else INVALID_CHALLENGE
    assert r.headers["WWW-Authenticate"] == want


def test_expired_token_challenge_on_every_route_kind(server):
    user = new_user()
    tok = server.token(user, exp=int(time.time()) - 1)
    h = {"Authorization": f"Bearer {tok}"}
    for r in (server.get("/api/drawings/stats/summary", headers=h),
              server.request("DELETE", "/api/drawings/" + str(uuid.uuid4()), headers=h),
              server.request("POST", "/api/drawings", headers=h,
                             files={"file": ("a.png", png_bytes(8, 8), "image/png")})):
        assert_401(r, BAD_CREDS)
        assert r.headers["WWW-Authenticate"] == EXPIRED_CHALLENGE
    assert server.media_files(user) == set()


@pytest.mark.parametrize("how", ["wrong_secret", "alg_none", "sub_not_uuid", "nbf_in_future"])
def test_forged_or_broken_expired_token_is_not_said_to_have_expired(server, how):
    """Only a token that is good but for its exp earns the description: a forged
    one with a past exp learns nothing from the header."""
    user = new_user()
    past = int(time.time()) - 3600
    tok = {"wrong_secret": lambda: server.token(user, exp=past, key=random_secret()),
           "alg_none": lambda: server.token(user, exp=past, algorithm="none", key=""),
           "sub_not_uuid": lambda: server.token("alice", exp=past),
           "nbf_in_future": lambda: server.token(user, exp=past, nbf=past + 7200)}[how]()
    r = server.get("/api/drawings/gallery", headers={"Authorization": f"Bearer {tok}"})
    assert_401(r, BAD_CREDS)
    assert r.headers["WWW-Authenticate"] == INVALID_CHALLENGE


@pytest.mark.parametrize("value", [None, "Basic xxx", "Bearer", "Bearer  "])
def test_no_token_gets_a_plain_challenge(server, value):
    """Without a bearer token there is nothing to call invalid (RFC 6750: no error code)."""
    r = server.get("/api/drawings/gallery", headers={"Authorization": value} if value else {})
    assert_401(r, NOT_AUTH if value is None else BAD_CREDS)
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_bad_token_on_upload_stores_nothing(server):
    user = new_user()
    tok = server.token(user, key="wrong-secret-" + "z" * 30)
    r = server.request("POST", "/api/drawings", headers={"Authorization": f"Bearer {tok}"},
                       files={"file": ("a.png", png_bytes(32, 32), "image/png")})
    assert_401(r, BAD_CREDS)
    assert server.media_files(user) == set()
    assert server.gallery(user)["count"] == 0


def test_good_token_is_accepted(server):
    user = new_user()
    r = server.get("/api/drawings/gallery", user)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "data": [], "count": 0, "page": 1, "limit": 20}


def test_good_token_with_extra_claims(server):
    user = new_user()
    now = int(time.time())
    tok = server.token(user, iat=now - 10, nbf=now - 10, jti=uuid.uuid4().hex, role="kid",
                       headers={"kid": "k1"})
    r = server.get("/api/drawings/stats/summary", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text


def test_bearer_scheme_is_case_insensitive(server):
    user = new_user()
    tok = server.token(user)
    r = server.get("/api/drawings/gallery", headers={"Authorization": f"bearer {tok}"})
    assert r.status_code == 200, r.text


def test_uppercase_sub_is_canonicalised(server):
    user = new_user()
    upper_tok = server.token(user.upper())
    r = server.request("POST", "/api/drawings", headers={"Authorization": f"Bearer {upper_tok}"},
                       files={"file": ("a.png", png_bytes(20, 10), "image/png")})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["user_id"] == user
    assert f"/users/{user}/" in d["uploaded_image_url"]
    # The lowercase token is the same user and sees the drawing.
    g = server.gallery(user)
    assert g["count"] == 1 and g["data"][0]["id"] == d["id"]
    r = server.get("/api/drawings/" + d["id"], headers={"Authorization": f"Bearer {upper_tok}"})
    assert r.status_code == 200 and r.json()["user_id"] == user


def test_users_are_isolated_by_sub(server):
    a, b = new_user(), new_user()
    d = server.upload(a, png_bytes(16, 16)).json()
    assert server.get("/api/drawings/" + d["id"], b).status_code == 404
    assert server.gallery(b)["count"] == 0
    assert server.gallery(a)["count"] == 1


def test_fractional_exp_is_accepted(server):
    user = new_user()
    tok = server.token(user, exp=time.time() + 3600.5)
    r = server.get("/api/drawings/gallery", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("spelling", ["braces", "no_dashes", "urn"])
def test_other_uuid_spellings_never_make_a_second_user(server, spelling):
    """Whether or not the server accepts them, other spellings of a UUID in `sub`
    must never create a differently-keyed user: accepted means canonicalised."""
    user = new_user()
    sub = {"braces": "{" + user + "}", "no_dashes": user.replace("-", ""),
           "urn": "urn:uuid:" + user}[spelling]
    tok = server.token(sub)
    r = server.request("POST", "/api/drawings", headers={"Authorization": f"Bearer {tok}"},
                       files={"file": ("a.png", png_bytes(4, 4), "image/png")})
    if r.status_code == 401:
        assert r.json() == BAD_CREDS
        return
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == user
    assert f"/users/{user}/" in r.json()["uploaded_image_url"]
    assert server.gallery(user)["count"] == 1
