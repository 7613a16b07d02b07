"""Share links (SPEC §11): POST /api/drawings/{id}/share, GET /api/drawings/{id}/shares,
DELETE /api/shares/{token}, and the public GET /api/shared/{token} and GET /s/{token}.

Runs on the module's shared server with fresh users per test. An expired link is
made by moving its expiry into the past in the database (never by sleeping).
"""
from __future__ import annotations

import datetime as dt
import html.parser
import re

import pytest

from helpers import (TIME_RE, assert_recent, new_user, parse_time, png_bytes, validation_entries,
                     wait_for_log)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
PUBLIC_KEYS = {"id", "tutorial_id", "uploaded_image_url", "edited_images_urls", "thumbnail_url",
               "edits", "created_at"}
NOT_FOUND = {"detail": "Share link not found"}


# ---------------------------------------------------------------------- helpers

def drawing(server, user, edits=()):
    """A new drawing of user's, with one edit per prompt (local editor)."""
    d = server.upload(user, png_bytes(64, 48, (30, 140, 200))).json()
    for p in edits:
        r = server.request("POST", f"/api/drawings/{d['id']}/edits", user,
                           files={"prompt": (None, p)})
        assert r.status_code == 200, r.text
    return d["id"]


def share(server, user, drawing_id, body=None, expect=201, **kw):
    if body is not None and "json" not in kw and "data" not in kw:
        kw["json"] = body
    r = server.request("POST", f"/api/drawings/{drawing_id}/share", user, **kw)
    assert r.status_code == expect, f"share: expected {expect}, got {r.status_code} {r.text[:300]}"
    return r.json()


def shares(server, user, drawing_id):
    r = server.get(f"/api/drawings/{drawing_id}/shares", user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "data"} and body["success"] is True
    return body["data"]


def sql_str(s: str) -> str:
    assert re.match(r"^[A-Za-z0-9_-]+$", s)
    return f"'{s}'"


class Meta(html.parser.HTMLParser):
    """The page's <meta> tags and <img> sources, attribute values unescaped."""

    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.imgs: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and "content" in a:
            self.meta[a.get("property") or a.get("name") or ""] = a["content"]
        elif tag == "img":
            self.imgs.append(a["src"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def parse_page(text: str) -> Meta:
    m = Meta()
    m.feed(text)
    m.close()
    return m


# ---------------------------------------------------------------------- creating

def test_create_without_expiry_answer_shape(server):
    u = new_user()
    d = drawing(server, u)
    for kw in ({}, {"data": b"", "headers": {"Content-Type": "application/json"}},
               {"json": {}}, {"json": {"expires_in": None}}, {"json": {"other": 5}}):
        body = share(server, u, d, **kw)
        assert list(body) == ["success", "token", "url", "created_at", "expires_at"]
        assert body["success"] is True
        assert TOKEN_RE.match(body["token"]), body["token"]
        assert body["url"] == f"{server.base}/s/{body['token']}"
        assert TIME_RE.match(body["created_at"])
        assert_recent(body["created_at"])
        assert body["expires_at"] is None
    tokens = [s["token"] for s in shares(server, u, d)]
    assert len(tokens) == 5 and len(set(tokens)) == 5


def test_create_with_expiry(server):
    u = new_user()
    d = drawing(server, u)
    for secs in (60, 3600, 31536000, "120", 600.0):
        body = share(server, u, d, {"expires_in": secs})
        delta = parse_time(body["expires_at"]) - parse_time(body["created_at"])
        assert delta == dt.timedelta(seconds=int(float(secs)))


def test_token_is_stored_hashed(server):
    u = new_user()
    d = drawing(server, u)
    tok = share(server, u, d)["token"]
    n = server.db_scalar(f"SELECT count(*) FROM shares WHERE token = {sql_str(tok)}")
    assert n == "1"
    # the lookup key is the SHA-256 of the token
    import hashlib
    want = hashlib.sha256(tok.encode()).hexdigest()
    if server.env.get("DATABASE_URL", "").startswith("postgres"):
        got = server.db_scalar(f"SELECT encode(token_hash, 'hex') FROM shares WHERE token = {sql_str(tok)}")
    else:
        got = server.db_scalar(f"SELECT lower(hex(token_hash)) FROM shares WHERE token = {sql_str(tok)}")
    assert got == want


@pytest.mark.parametrize("value, etype, msg", [
    (59, "greater_than_equal", "Input should be greater than or equal to 60"),
    (0, "greater_than_equal", "Input should be greater than or equal to 60"),
    (-5, "greater_than_equal", "Input should be greater than or equal to 60"),
    (31536001, "less_than_equal", "Input should be less than or equal to 31536000"),
    (10**30, "less_than_equal", "Input should be less than or equal to 31536000"),
    ("abc", "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    ("", "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    (1.5, "int_from_float", "Input should be a valid integer, got a number with a fractional part"),
    ([120], "int_type", "Input should be a valid integer"),
    ({"s": 120}, "int_type", "Input should be a valid integer"),
])
def test_bad_expires_in(server, value, etype, msg):
    u = new_user()
    d = drawing(server, u)
    if value == 10**30:
        # jansson reads integers as int64: a bigger one is sent as a real
        kw = {"data": b'{"expires_in": 1e30}', "headers": {"Content-Type": "application/json"}}
    else:
        kw = {"json": {"expires_in": value}}
    body = share(server, u, d, expect=422, **kw)
    entries = validation_entries(body)
    assert len(entries) == 1
    e = entries[0]
    assert e["loc"] == ["body", "expires_in"] and e["type"] == etype and e["msg"] == msg
    if etype in ("greater_than_equal", "less_than_equal"):
        assert e["ctx"] == ({"ge": 60} if etype == "greater_than_equal" else {"le": 31536000})
    if value != 10**30:
        assert e["input"] == value
    assert shares(server, u, d) == []


def test_bad_bodies(server):
    u = new_user()
    d = drawing(server, u)
    # not JSON at all
    r = server.request("POST", f"/api/drawings/{d}/share", u, data=b'{"expires_in": 60',
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert [e["type"] for e in validation_entries(r.json())] == ["json_invalid"]
    # a JSON array, a string, a number: not an object
    for doc in (b"[]", b'"x"', b"60"):
        r = server.request("POST", f"/api/drawings/{d}/share", u, data=doc,
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 422, doc
        assert [(e["type"], e["loc"]) for e in validation_entries(r.json())] == \
            [("model_attributes_type", ["body"])]
    # a form body, or text/plain: not JSON
    for ct in ("application/x-www-form-urlencoded", "text/plain"):
        r = server.request("POST", f"/api/drawings/{d}/share", u, data=b'{"expires_in": 60}',
                           headers={"Content-Type": ct})
        assert r.status_code == 422, ct
        assert [(e["type"], e["loc"]) for e in validation_entries(r.json())] == \
            [("model_attributes_type", ["body"])]
    # 10 MB: refused before it is read
    r = server.request("POST", f"/api/drawings/{d}/share", u, data=b"{" + b" " * (10 << 20) + b"}",
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # a bad drawing id and a bad body: both reported
    r = server.request("POST", "/api/drawings/nope/share", u, json={"expires_in": 1})
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in validation_entries(r.json())) == \
        [("body", "expires_in"), ("path", "drawing_id")]
    assert shares(server, u, d) == []
    # and the server is still fine
    share(server, u, d, {"expires_in": 60})


def test_unauthenticated_owner_routes(server):
    u = new_user()
    d = drawing(server, u)
    tok = share(server, u, d)["token"]
    for method, path in (("POST", f"/api/drawings/{d}/share"), ("GET", f"/api/drawings/{d}/shares"),
                         ("DELETE", f"/api/shares/{tok}")):
        r = server.request(method, path)
        assert r.status_code == 401, (method, path, r.text)
    assert server.get(f"/api/shared/{tok}").status_code == 200


# ---------------------------------------------------------------------- others' drawings

def test_other_user_cannot_create_list_or_revoke(server):
    a, b = new_user(), new_user()
    d = drawing(server, a)
    tok = share(server, a, d)["token"]
    missing = "00000000-0000-4000-8000-000000000000"
    assert share(server, b, d, expect=404) == {"detail": "Drawing not found"}
    assert share(server, a, missing, expect=404) == {"detail": "Drawing not found"}
    for who, did in ((b, d), (a, missing)):
        r = server.get(f"/api/drawings/{did}/shares", who)
        assert r.status_code == 404 and r.json() == {"detail": "Drawing not found"}
    r = server.delete(f"/api/shares/{tok}", b)
    assert r.status_code == 404 and r.json() == NOT_FOUND
    # still there, still working
    assert [s["token"] for s in shares(server, a, d)] == [tok]
    assert server.get(f"/api/shared/{tok}").status_code == 200
    r = server.get(f"/api/drawings/{d}/shares", a, params={"x": "1"})
    assert r.status_code == 200


# ---------------------------------------------------------------------- listing and views

def test_list_newest_first_with_views(server):
    u = new_user()
    d = drawing(server, u)
    made = [share(server, u, d, {"expires_in": 600} if i == 1 else None) for i in range(3)]
    data = shares(server, u, d)
    assert [s["token"] for s in data] == [m["token"] for m in reversed(made)]
    for s, m in zip(data, reversed(made)):
        assert list(s) == ["token", "url", "created_at", "expires_at", "views"]
        assert s["url"] == m["url"] and s["created_at"] == m["created_at"]
        assert s["expires_at"] == m["expires_at"] and s["views"] == 0
    # views: the JSON and the page both count; a failed lookup counts nothing
    t0, t1 = made[0]["token"], made[1]["token"]
    for _ in range(3):
        assert server.get(f"/api/shared/{t0}").status_code == 200
    assert server.get(f"/s/{t0}").status_code == 200
    assert server.get(f"/s/{t1}").status_code == 200
    assert server.get(f"/api/shared/{t0[:-1]}").status_code == 404
    views = {s["token"]: s["views"] for s in shares(server, u, d)}
    assert views == {t0: 4, t1: 1, made[2]["token"]: 0}
    # another drawing's list is separate
    d2 = drawing(server, u)
    assert shares(server, u, d2) == []


# ---------------------------------------------------------------------- the public JSON

def test_shared_json_is_the_drawing_without_its_owner(server):
    u = new_user()
    d = drawing(server, u, edits=["make it black and white", "add a sepia tone"])
    tok = share(server, u, d)["token"]
    r = server.get(f"/api/shared/{tok}")  # no Authorization header
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    pub = r.json()
    assert set(pub) == PUBLIC_KEYS
    assert u not in str({k: v for k, v in pub.items() if k not in (
        "uploaded_image_url", "edited_images_urls", "thumbnail_url", "edits")})
    own = server.get(f"/api/drawings/{d}", u).json()
    assert pub == {k: own[k] for k in PUBLIC_KEYS}
    assert len(pub["edits"]) == 2 and pub["edits"][1]["prompt"] == "add a sepia tone"
    # the images are reachable without a token
    for url in [pub["uploaded_image_url"], *pub["edited_images_urls"]]:
        assert server.http.get(url, timeout=10).status_code == 200
    # a token sent anyway changes nothing; someone else's token neither
    assert server.get(f"/api/shared/{tok}", new_user()).json() == pub


# ---------------------------------------------------------------------- the page

def test_page_meta_tags_and_images(server):
    u = new_user()
    d = drawing(server, u, edits=["make it black and white", "add a sepia tone"])
    tok = share(server, u, d)["token"]
    own = server.get(f"/api/drawings/{d}", u).json()
    r = server.get(f"/s/{tok}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    page = parse_page(r.text)
    latest = own["edited_images_urls"][-1]
    assert page.meta["og:image"] == latest
    assert latest.startswith(server.base + "/media/")
    assert page.meta["twitter:card"] == "summary_large_image"
    assert page.meta["og:title"] == "add a sepia tone"
    assert page.meta["og:url"] == f"{server.base}/s/{tok}"
    assert page.imgs == [own["uploaded_image_url"], latest]  # before, after
    assert "Before" in r.text and "After" in r.text
    # nothing from elsewhere: the one script and the stylesheets are this server's
    # versioned assets (web/share.js turns the pair into the slider), nothing inline
    srcs = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]*)"', r.text)
    assert srcs and all(s.startswith("/assets/") for s in srcs)
    assert r.text.lower().count("<script") == 1 and "<style" not in r.text.lower()
    for s in srcs:
        a = server.get(s)
        assert a.status_code == 200 and "immutable" in a.headers["Cache-Control"]
    # nothing about the owner but the ids inside image keys
    assert u not in re.sub(r"/users/" + u + "/", "", r.text)


def test_page_without_edits_shows_the_original(server):
    u = new_user()
    d = drawing(server, u)
    tok = share(server, u, d)["token"]
    own = server.get(f"/api/drawings/{d}", u).json()
    page = parse_page(server.get(f"/s/{tok}").text)
    assert page.meta["og:image"] == own["uploaded_image_url"]
    assert page.meta["og:image"].startswith(server.base + "/")
    assert page.imgs == [own["uploaded_image_url"]]


def test_page_escapes_what_it_shows(server):
    u = new_user()
    d = drawing(server, u, edits=["make it black and white"])
    tok = share(server, u, d)["token"]
    # a prompt as another editor could have stored it (the local one only knows its words)
    hostile = "</title><script>alert(1)</script>\"><img src=x onerror=alert(2)> & 'q'"
    server.db_exec("UPDATE edits SET prompt = '" + hostile.replace("'", "''") + "' "
                   f"WHERE drawing_id = '{d}'")
    r = server.get(f"/s/{tok}")
    assert r.status_code == 200
    assert "<script>" not in r.text and "<img src=x" not in r.text
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;" in r.text
    page = parse_page(r.text)
    assert page.meta["og:title"] == hostile  # escaped, so it reads back exactly
    assert page.title.startswith(hostile)
    assert len(page.imgs) == 2
    # the JSON carries it as data
    assert server.get(f"/api/shared/{tok}").json()["edits"][0]["prompt"] == hostile


# ---------------------------------------------------------------------- the end of a link

def check_gone(server, tok):
    r = server.get(f"/api/shared/{tok}")
    assert r.status_code == 404 and r.json() == NOT_FOUND
    r = server.get(f"/s/{tok}")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Share link not found" in r.text and "<script" not in r.text


def test_revoke(server):
    u = new_user()
    d = drawing(server, u)
    keep, gone = share(server, u, d)["token"], share(server, u, d)["token"]
    r = server.delete(f"/api/shares/{gone}", u)
    assert r.status_code == 200
    assert r.json() == {"success": True, "message": "Share revoked"}
    check_gone(server, gone)
    r = server.delete(f"/api/shares/{gone}", u)
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert [s["token"] for s in shares(server, u, d)] == [keep]
    assert server.get(f"/api/shared/{keep}").status_code == 200


def test_deleting_the_drawing_ends_its_links(server):
    u = new_user()
    d = drawing(server, u, edits=["make it black and white"])
    tok = share(server, u, d)["token"]
    assert server.delete(f"/api/drawings/{d}", u).status_code == 200
    check_gone(server, tok)
    assert server.delete(f"/api/shares/{tok}", u).status_code == 404
    assert server.db_scalar(f"SELECT count(*) FROM shares WHERE token = {sql_str(tok)}") == "0"


def test_expired(server):
    u = new_user()
    d = drawing(server, u)
    tok = share(server, u, d, {"expires_in": 60})["token"]
    other = share(server, u, d, {"expires_in": 60})["token"]
    assert server.get(f"/api/shared/{tok}").status_code == 200
    # its expiry moved to its creation: expired now
    server.db_exec(f"UPDATE shares SET expires_at = created_at WHERE token = {sql_str(tok)}")
    check_gone(server, tok)
    assert server.get(f"/api/shared/{other}").status_code == 200
    # still listed for its owner (with its expiry), views as counted before it expired
    data = {s["token"]: s for s in shares(server, u, d)}
    assert data[tok]["expires_at"] == data[tok]["created_at"] and data[tok]["views"] == 1
    # and its owner can still revoke it
    assert server.delete(f"/api/shares/{tok}", u).status_code == 200


@pytest.mark.parametrize("bad", [
    "x",
    "A" * 42,
    "A" * 44,
    "A" * 10000,
    "%2e%2e%2fetc%2fpasswd",
    "A" * 42 + "=",
    "A" * 42 + "+",
    "A" * 42 + "%00",
    "A" * 42 + "%C3%A9",
    "'%20OR%201=1--" + "A" * 30,
])
def test_hostile_tokens(server, bad):
    u = new_user()
    d = drawing(server, u)
    real = share(server, u, d)["token"]
    routed = "%2f" not in bad  # a decoded "/" makes it another path: no route, plain 404
    for r in (server.get(f"/api/shared/{bad}"), server.delete(f"/api/shares/{bad}", u)):
        assert r.status_code == 404, (bad[:60], r.status_code, r.text[:200])
        assert r.json() == (NOT_FOUND if routed else {"detail": "Not Found"})
    r = server.get(f"/s/{bad}")
    assert r.status_code == 404
    assert not routed or "Share link not found" in r.text
    # a well-formed token that is not one, and the real one with one character changed
    for fake in ("A" * 43, real[:-1] + ("B" if real[-1] != "B" else "C")):
        check_gone(server, fake)
        assert server.delete(f"/api/shares/{fake}", u).status_code == 404
    assert shares(server, u, d)[0]["views"] == 0
    assert server.get(f"/api/shared/{real}").status_code == 200


# ---------------------------------------------------------------------- private storage

def test_private_storage_presigned_urls(s3, server_factory):
    import urllib.parse

    import requests

    srv = server_factory(env=s3.env(STORAGE_ACL="private"))
    u = new_user()
    d = srv.upload(u, png_bytes(32, 32, (90, 20, 160))).json()["id"]
    tok = share(srv, u, d)["token"]
    pub = srv.get(f"/api/shared/{tok}").json()
    page = parse_page(srv.get(f"/s/{tok}").text)
    for url in (pub["uploaded_image_url"], pub["thumbnail_url"], page.meta["og:image"],
                *page.imgs):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert "X-Amz-Signature" in q, url
        assert url.startswith(f"{s3.endpoint}/{s3.bucket}/users/")
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.content == s3.get(s3.key_of(url))
    assert page.meta["og:image"].split("?")[0] == pub["uploaded_image_url"].split("?")[0]


def test_tokens_stay_out_of_the_log(server):
    u = new_user()
    d = drawing(server, u)
    tok = share(server, u, d)["token"]
    gone = share(server, u, d)["token"]
    server.get(f"/api/shared/{tok}")
    server.get(f"/s/{tok}")
    server.delete(f"/api/shares/{gone}", u)
    server.get(f"/s/{gone}")
    wait_for_log(server, r"method=GET route=/s/\{token\} status=404")
    log = server.log_text()
    assert tok not in log and gone not in log
    assert re.search(r"method=GET route=/api/shared/\{token\} status=200", log)
    assert re.search(r"method=DELETE route=/api/shares/\{token\} status=200", log)
