"""The web app's server side (SPEC section 13, docs/web.md): the embedded assets (ETag,
304, gzip, immutable versioned folder, CSP, nosniff), /openapi.json and /docs without
a token, and the cookie session: sign-in sets an HttpOnly SameSite=Strict refresh
cookie, refresh rotates it (a spent one revokes the family), sign-out clears it, and
each refuses requests without the custom header or from another origin (CSRF)."""
import gzip
import re
import uuid

import requests

PASSWORD = "correct horse battery"
H = {"X-NovaDraw-Session": "1"}


def fresh(server) -> requests.Session:
    s = requests.Session()
    s.headers["Accept-Encoding"] = "identity"
    return s


def account(server) -> str:
    addr = f"web-{uuid.uuid4().hex[:12]}@example.com"
    r = server.http.post(server.base + "/api/auth/register",
                         json={"email": addr, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    return addr


def assets(server):
    html = fresh(server).get(server.base + "/").text
    return re.findall(r'(?:src|href)="(/assets/[0-9a-f]{12}/[a-z.]+)"', html)


# ---------------------------------------------------------------------- assets

def test_index_headers(server):
    r = fresh(server).get(server.base + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # images: this server, data: and blob: (previews, downloads)
    img = re.search(r"img-src ([^;]*)", csp).group(1).split()
    assert {"'self'", "data:", "blob:", server.base} <= set(img)
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["ETag"])
    # no inline script: every script is a file of the versioned folder
    assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None
    assert "/assets/" in r.text


def test_assets_immutable_etag_gzip(server):
    paths = assets(server)
    assert any(p.endswith("/app.js") for p in paths) and any(p.endswith("/app.css") for p in paths)
    s = fresh(server)
    for p in paths:
        r = s.get(server.base + p)
        assert r.status_code == 200, p
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        etag = r.headers["ETag"]
        again = s.get(server.base + p, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert s.get(server.base + p, headers={"If-None-Match": '"other"'}).status_code == 200
    js = next(p for p in paths if p.endswith("/app.js"))
    r = s.get(server.base + js)
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    css = next(p for p in paths if p.endswith("/app.css"))
    plain = s.get(server.base + css)
    z = s.get(server.base + css, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert z.headers["Content-Encoding"] == "gzip" and z.headers["Vary"] == "Accept-Encoding"
    body = z.raw.read()
    assert len(body) < len(plain.content) and gzip.decompress(body) == plain.content
    # q=0 refuses gzip
    r = s.get(server.base + css, headers={"Accept-Encoding": "gzip;q=0"}, stream=True)
    assert "Content-Encoding" not in r.headers


def test_unknown_assets_are_404(server):
    s = fresh(server)
    for p in ["/assets/000000000000/app.js", "/assets/", "/assets/../web/app.js",
              "/index.html", "/docs/openapi.json", "/docs/swagger-ui.js"]:
        r = s.get(server.base + p)
        assert r.status_code == 404, p


def test_openapi_and_docs_need_no_token(server):
    s = fresh(server)
    r = s.get(server.base + "/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    r = s.get(server.base + "/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        a = s.get(server.base + src)
        assert a.status_code == 200, src
    assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None  # the initializer is a file


# ---------------------------------------------------------------------- the cookie session

def sign_in(server, s, addr, headers=H):
    return s.post(server.base + "/api/auth/session", json={"email": addr, "password": PASSWORD},
                  headers=headers, timeout=30)


def test_session_sign_in_sets_the_cookie(server):
    addr = account(server)
    s = fresh(server)
    r = sign_in(server, s, addr)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user_id", "email"}
    assert body["email"] == addr
    cookie = r.headers["Set-Cookie"]
    assert re.match(r"novadraw_refresh=[A-Za-z0-9_-]{43}; ", cookie)
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/auth/session", "Max-Age=2592000"]:
        assert attr in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is http here
    assert r.headers["Cache-Control"] == "no-store"
    me = s.get(server.base + "/api/auth/me",
               headers={"Authorization": "Bearer " + body["access_token"]})
    assert me.status_code == 200 and me.json()["email"] == addr
    # wrong password: the login route's answer, no cookie
    bad = s.post(server.base + "/api/auth/session", json={"email": addr, "password": "nope-nope"},
                 headers=H)
    assert bad.status_code == 401 and bad.json() == {"detail": "Incorrect email or password"}
    assert "Set-Cookie" not in bad.headers


def test_session_refresh_rotates_and_detects_reuse(server):
    addr = account(server)
    s = fresh(server)
    assert sign_in(server, s, addr).status_code == 200
    first = s.cookies["novadraw_refresh"]
    r = s.post(server.base + "/api/auth/session/refresh", headers=H)
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json() and r.json()["email"] == addr
    second = s.cookies["novadraw_refresh"]
    assert second != first
    # the spent cookie again: refused and cleared, and the family is revoked
    thief = fresh(server)
    thief.cookies.set("novadraw_refresh", first)
    r = thief.post(server.base + "/api/auth/session/refresh", headers=H)
    assert r.status_code == 401 and "Max-Age=0" in r.headers["Set-Cookie"]
    r = s.post(server.base + "/api/auth/session/refresh", headers=H)
    assert r.status_code == 401


def test_session_refresh_without_cookie(server):
    r = fresh(server).post(server.base + "/api/auth/session/refresh", headers=H)
    assert r.status_code == 401 and r.json() == {"detail": "Not signed in"}
    s = fresh(server)
    s.cookies.set("novadraw_refresh", "x" * 43)
    assert s.post(server.base + "/api/auth/session/refresh", headers=H).status_code == 401


def test_session_sign_out(server):
    addr = account(server)
    s = fresh(server)
    assert sign_in(server, s, addr).status_code == 200
    token = s.cookies["novadraw_refresh"]
    r = s.delete(server.base + "/api/auth/session", headers=H)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    again = fresh(server)
    again.cookies.set("novadraw_refresh", token)
    assert again.post(server.base + "/api/auth/session/refresh", headers=H).status_code == 401


def test_session_routes_refuse_cross_site_requests(server):
    addr = account(server)
    s = fresh(server)
    assert sign_in(server, s, addr).status_code == 200
    before = s.cookies["novadraw_refresh"]
    refresh = server.base + "/api/auth/session/refresh"
    cases = [
        {},                                                  # no custom header (a form post)
        {"X-NovaDraw-Session": "0"},
        {**H, "Origin": "https://evil.example"},
        {**H, "Origin": "null"},
        {**H, "Sec-Fetch-Site": "cross-site"},
        {**H, "Sec-Fetch-Site": "same-site"},
    ]
    for h in cases:
        r = s.post(refresh, headers=h)
        assert r.status_code == 403, h
        assert s.delete(server.base + "/api/auth/session", headers=h).status_code == 403, h
        assert sign_in(server, fresh(server), addr, headers=h).status_code == 403, h
    assert s.cookies["novadraw_refresh"] == before  # nothing was rotated
    # this server's own origin (as the browser sends it) is fine
    ok = s.post(refresh, headers={**H, "Origin": server.base, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200, ok.text


def test_session_bad_bodies(server):
    s = fresh(server)
    r = s.post(server.base + "/api/auth/session", data="nope", headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 422
    r = s.post(server.base + "/api/auth/session", json={"email": "not-an-email"}, headers=H)
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "email"] in locs and ["body", "password"] in locs


def test_share_page_uses_the_csp_and_assets(server):
    r = fresh(server).get(server.base + "/s/" + "A" * 43)
    assert r.status_code == 404
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "<script" not in r.text
    for href in re.findall(r'href="(/assets/[^"]+)"', r.text):
        assert fresh(server).get(server.base + href).status_code == 200


def test_csp_allows_the_storage_origins(s3, server_factory):
    """With S3, images come from the public URL (a CDN here) or, presigned, from the
    endpoint: both origins are in img-src, with nothing of their paths."""
    srv = server_factory(env=s3.env(SPACES_PUBLIC_URL="https://cdn.example.com/nd/"))
    csp = fresh(srv).get(srv.base + "/").headers["Content-Security-Policy"]
    img = re.search(r"img-src ([^;]*)", csp).group(1).split()
    endpoint = re.match(r"https?://[^/]+", s3.endpoint).group(0)
    assert img == ["'self'", "data:", "blob:", srv.base, "https://cdn.example.com", endpoint]
    assert "frame-ancestors 'none'" in csp
