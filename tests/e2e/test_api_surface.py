"""The API's surface (SPEC §14 and issue 16): the OpenAPI document against the route
table (docs/openapi.json vs `novadraw routes`), `novadraw --version` and /health's
version, CORS per CORS_ORIGINS (preflights, allowed and other origins, hostile
Origin values), HEAD in Allow, Location on 201 answers, gzip for large JSON answers,
and one byte range on /media (local files and pending images)."""
from __future__ import annotations

import gzip
import json
import pathlib
import re
import socket
import subprocess

import pytest
import requests

from helpers import new_user, png_bytes, raw_get, raw_request, recv_all

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


# ------------------------------------------------------------------ OpenAPI drift

def route_table(binary: str) -> list[tuple[str, str]]:
    # no configuration is read: it works whatever the environment holds
    r = subprocess.run([binary, "routes"], capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "CORS_ORIGINS": "not an origin"})
    assert r.returncode == 0, r.stderr
    rows = [line.split(" ") for line in r.stdout.splitlines()]
    assert rows and all(len(x) == 2 for x in rows), r.stdout
    return [(m, p) for m, p in rows]


def openapi_path(pattern: str) -> str:
    """The router's "{key*}" (the rest of the path) is an ordinary template in OpenAPI."""
    return re.sub(r"\{(\w+)\*\}", r"{\1}", pattern)


def resolve(doc: dict, obj: dict) -> dict:
    while "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def test_openapi_lists_exactly_the_routes(novadraw_bin):
    doc = json.loads(DOC.read_text())
    assert doc["openapi"].startswith("3.1")
    table = {(m, openapi_path(p)) for m, p in route_table(novadraw_bin)}
    documented, extra = set(), set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            documented.add((method.upper(), path))
            if op.get("x-novadraw-extra") is True:
                extra.add((method.upper(), path))
    assert table - documented == set(), "routes missing from docs/openapi.json"
    # routes other modules add may be absent from this build's table, nothing else
    assert documented - table <= extra, "documented operations the server does not route"
    assert len(route_table(novadraw_bin)) == len(table), "a route is listed twice"


def test_openapi_declares_every_path_parameter(novadraw_bin):
    doc = json.loads(DOC.read_text())
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            params = [resolve(doc, p) for p in op.get("parameters", []) + item.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == in_path, (method, path, declared)
            assert all(p.get("required") is True for p in params if p["in"] == "path"), (method, path)
            assert op["responses"], (method, path)


def test_openapi_security_and_public_routes(novadraw_bin):
    doc = json.loads(DOC.read_text())
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/api/auth/login"
    public = {"/health", "/media/{key}", "/media/pending/{key}", "/api/auth/register",
              "/api/auth/login", "/api/auth/refresh", "/api/auth/logout", "/api/shared/{token}",
              "/s/{token}", "/openapi.json", "/docs", "/docs/{path}", "/", "/assets/{path}",
              "/api/auth/session", "/api/auth/session/refresh"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in public:
                assert op.get("security") == [], (method, path)
            elif path != "/metrics":
                assert "security" not in op and "401" in op["responses"], (method, path)
    # the edit routes carry the rate limit; the upload/edit/bulk-delete routes the key
    for path in ("/api/edit-image", "/api/edit-image-with-audio", "/api/drawings/{drawing_id}/edits"):
        op = doc["paths"][path]["post"]
        assert {"409", "422", "429"} <= set(op["responses"]), path
        assert "RateLimit-Remaining" in op["responses"]["200"]["headers"]
    for path in ("/api/edit-image", "/api/edit-image-with-audio", "/api/drawings",
                 "/api/drawings/{drawing_id}/edits", "/api/drawings/bulk-delete"):
        names = {resolve(doc, p)["name"] for p in doc["paths"][path]["post"]["parameters"]}
        assert "Idempotency-Key" in names, path


SAMPLE_PARAMS = {"drawing_id": "550e8400-e29b-41d4-a716-446655440000", "token": "A" * 43,
                 "key": "users/550e8400-e29b-41d4-a716-446655440000/original/x.png", "path": "x.js"}


def test_openapi_security_matches_the_server(server, novadraw_bin):
    """Every routed operation the document calls public answers without a token; every
    other one answers 401 without one (so `security` cannot drift from the table)."""
    doc = json.loads(DOC.read_text())
    for method, pattern in route_table(novadraw_bin):
        path = openapi_path(pattern)
        op = doc["paths"][path][method.lower()]
        url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], path)
        r = server.request(method, url, allow_redirects=False)
        if op.get("security") == [] or path == "/metrics":  # open unless METRICS_TOKEN
            assert r.status_code != 401, (method, path, r.status_code)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
        # and the answer is one the document lists
        assert str(r.status_code) in op["responses"], (method, path, r.status_code)


def conforms(doc: dict, schema: dict, value, where="$"):
    """A small structural check of value against a schema of the document: types,
    required and known properties of objects (recursively), const and enum."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        errors = []
        for alt in schema["anyOf"]:
            try:
                conforms(doc, alt, value, where)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: matches no alternative: {errors}")
    types = schema.get("type")
    if types:
        types = [types] if isinstance(types, str) else types
        pytypes = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
                   "integer": int, "number": (int, float)}
        ok = any(isinstance(value, pytypes[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in types)
        assert ok, f"{where}: {value!r} is not {types}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict) and "properties" in schema:
        assert set(schema.get("required", [])) <= set(value), f"{where}: missing {set(schema['required']) - set(value)}"
        assert set(value) <= set(schema["properties"]), f"{where}: undocumented {set(value) - set(schema['properties'])}"
        for k, v in value.items():
            conforms(doc, schema["properties"][k], v, f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            conforms(doc, schema["items"], v, f"{where}[{i}]")


def answer_schema(doc, method, path, status):
    resp = resolve(doc, doc["paths"][path][method]["responses"][str(status)])
    return resp["content"]["application/json"]["schema"]


def test_real_answers_match_the_documented_schemas(server):
    doc = json.loads(DOC.read_text())
    user = new_user()

    def check(method, path, r):
        conforms(doc, answer_schema(doc, method, path, r.status_code), r.json())

    r = server.upload(user, png_bytes(8, 8))
    check("post", "/api/drawings", r)
    did = r.json()["id"]
    r = server.request("POST", "/api/edit-image", user, files={"file": ("d.png", png_bytes(8, 8), "image/png")},
                       data={"prompt": "make it black and white and draw a cat"})
    assert r.status_code == 200, r.text
    check("post", "/api/edit-image", r)
    r = server.request("POST", f"/api/drawings/{did}/edits", user, data={"prompt": "blur"})
    check("post", "/api/drawings/{drawing_id}/edits", r)
    check("get", "/api/drawings/{drawing_id}", server.get(f"/api/drawings/{did}", user))
    check("get", "/api/drawings/gallery", server.get("/api/drawings/gallery", user))
    check("get", "/api/drawings/stats/summary", server.get("/api/drawings/stats/summary", user))
    check("get", "/api/tutorials", server.get("/api/tutorials", user))
    r = server.request("POST", f"/api/drawings/{did}/share", user, json={"expires_in": 600})
    check("post", "/api/drawings/{drawing_id}/share", r)
    token = r.json()["token"]
    check("get", "/api/drawings/{drawing_id}/shares", server.get(f"/api/drawings/{did}/shares", user))
    check("get", "/api/shared/{token}", server.get(f"/api/shared/{token}"))
    check("delete", "/api/shares/{token}", server.delete(f"/api/shares/{token}", user))
    r = server.request("POST", "/api/drawings/bulk-delete", user, json={"ids": [did, str(new_user())]})
    check("post", "/api/drawings/bulk-delete", r)
    check("get", "/health", server.get("/health"))
    email = f"schema-{new_user()[:8]}@example.com"
    r = server.request("POST", "/api/auth/register", json={"email": email, "password": "correct horse"})
    check("post", "/api/auth/register", r)
    r = server.request("POST", "/api/auth/login", data={"username": email, "password": "correct horse"})
    check("post", "/api/auth/login", r)
    bearer = {"Authorization": "Bearer " + r.json()["access_token"]}
    check("get", "/api/auth/me", server.get("/api/auth/me", headers=bearer))
    # errors: the 422 list, a detail, the voice refusal shape is documented too
    check("get", "/api/drawings/gallery", server.get("/api/drawings/gallery?page=0&limit=x", user))
    check("get", "/api/drawings/{drawing_id}", server.get("/api/drawings/not-a-uuid", user))
    check("get", "/api/drawings/{drawing_id}", server.get(f"/api/drawings/{new_user()}", user))
    check("get", "/api/drawings/gallery", server.get("/api/drawings/gallery"))
    r = server.request("POST", "/api/edit-image", user, files={"file": ("d.png", png_bytes(8, 8), "image/png")},
                       data={"prompt": "what is the weather like"})
    assert r.status_code == 422
    check("post", "/api/edit-image", r)
    conforms(doc, {"$ref": "#/components/schemas/VoiceRefusal"},
             {"detail": "Could not understand the prompt", "transcription": "call my mom"})


# ------------------------------------------------------------------ version

def test_version_everywhere(server):
    for args in (("--version",), ("version",)):
        r = server.cli(*args)
        assert r.returncode == 0 and re.fullmatch(r"novadraw \d+\.\d+\.\d+\S*\n", r.stdout), r
    version = server.cli("--version").stdout.split()[1]
    assert server.get("/health").json() == {"status": "ok", "version": version}
    assert json.loads(DOC.read_text())["info"]["version"] == version
    r = server.cli("help")
    assert "routes" in r.stdout and "--version" in r.stdout and "CORS_ORIGINS" in r.stdout


# ------------------------------------------------------------------ HEAD and Allow

def test_head_is_allowed_and_served_for_get_routes(server):
    r = server.request("POST", "/health")
    assert r.status_code == 405
    assert [m.strip() for m in r.headers["Allow"].split(",")] == ["GET", "HEAD"]
    r = server.request("PATCH", "/api/drawings/550e8400-e29b-41d4-a716-446655440000")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "DELETE"}
    r = server.request("GET", "/api/drawings")
    assert r.headers["Allow"] == "POST"  # no GET here, so no HEAD either
    user = new_user()
    get = server.get("/api/drawings/gallery", user)
    head = server.request("HEAD", "/api/drawings/gallery", user)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert server.request("HEAD", "/api/drawings/gallery").status_code == 401


# ------------------------------------------------------------------ Location

def test_location_on_201_answers(server):
    user = new_user()
    r = server.upload(user, png_bytes(8, 8))
    d = r.json()
    assert r.headers["Location"] == "/api/drawings/" + d["id"]
    assert server.get(r.headers["Location"], user).json()["id"] == d["id"]

    r = server.request("POST", f"/api/drawings/{d['id']}/share", user)
    assert r.status_code == 201
    assert r.headers["Location"] == "/api/shared/" + r.json()["token"]
    assert server.get(r.headers["Location"]).json()["id"] == d["id"]

    email = f"loc-{new_user()[:8]}@example.com"
    r = server.request("POST", "/api/auth/register", json={"email": email, "password": "correct horse"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/auth/me"
    me = server.get(r.headers["Location"],
                    headers={"Authorization": "Bearer " + r.json()["access_token"]})
    assert me.json()["email"] == email
    # 200 answers carry none
    assert "Location" not in server.get("/api/drawings/" + d["id"], user).headers


# ------------------------------------------------------------------ gzip

def gallery_raw(server, user, accept):
    h = dict(server.auth(user))
    h["Accept-Encoding"] = accept  # None: requests sends none of its own
    # stream=True: the body as it came over the wire, undecoded
    r = requests.get(server.base + "/api/drawings/gallery", headers=h, stream=True, timeout=30)
    raw = r.raw.read(decode_content=False)
    return r, raw


def test_gzip_for_large_json_when_accepted(server):
    user = new_user()
    for _ in range(4):
        server.upload(user, png_bytes(8, 8))
    plain, body = gallery_raw(server, user, "identity")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert len(body) > 1024
    assert "Accept-Encoding" in plain.headers.get("Vary", "")
    etag = plain.headers["ETag"]

    for accept in ("gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.5", "*", "GZIP", "x-gzip"):
        r, z = gallery_raw(server, user, accept)
        assert r.headers.get("Content-Encoding") == "gzip", accept
        assert "Accept-Encoding" in r.headers["Vary"]
        assert int(r.headers["Content-Length"]) == len(z) < len(body)
        assert gzip.decompress(z) == body, accept
        # another representation: a weak tag, which If-None-Match still matches
        assert r.headers["ETag"] == "W/" + etag.removeprefix("W/")
    for accept in (None, "identity", "gzip;q=0", "deflate", "*;q=0", "gzip;q=0, *", "br",
                   "gzip;q=nonsense", "gzip;q=2", ",,,", "gzip;q=0.000"):
        r, b = gallery_raw(server, user, accept)
        assert "Content-Encoding" not in r.headers, accept
        assert b == body, accept
    h = {**server.auth(user), "Accept-Encoding": "gzip", "If-None-Match": "W/" + etag.removeprefix("W/")}
    assert requests.get(server.base + "/api/drawings/gallery", headers=h, timeout=10).status_code == 304


def test_small_json_and_files_are_not_gzipped(server):
    r = server.http.get(server.base + "/health", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert "Content-Encoding" not in r.headers and "Vary" not in r.headers
    user = new_user()
    d = server.upload(user, png_bytes(300, 300)).json()
    r = server.http.get(d["uploaded_image_url"], headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert "Content-Encoding" not in r.headers
    r = requests.get(server.base + "/api/drawings/export", stream=True, timeout=30,
                     headers={**server.auth(user), "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    r.close()


# ------------------------------------------------------------------ Range on /media

def test_range_on_media(server):
    user = new_user()
    d = server.upload(user, png_bytes(64, 64)).json()
    url = d["uploaded_image_url"]
    full = server.http.get(url, timeout=10)
    data, etag, n = full.content, full.headers["ETag"], len(full.content)
    assert full.headers["Accept-Ranges"] == "bytes"

    def get(rng, **h):
        return server.http.get(url, headers={"Range": rng, **h}, timeout=10)

    for rng, first, last in (("bytes=0-7", 0, 7), ("bytes=8-", 8, n - 1), ("bytes=-10", n - 10, n - 1),
                             ("bytes=5-5", 5, 5), (f"bytes=10-{n + 100}", 10, n - 1),
                             (f"bytes=-{n + 5}", 0, n - 1), ("BYTES = 1-2 ", 1, 2)):
        r = get(rng)
        assert r.status_code == 206, (rng, r.status_code)
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{n}", rng
        assert r.content == data[first:last + 1], rng
        assert int(r.headers["Content-Length"]) == last - first + 1
        assert r.headers["ETag"] == etag
    for rng in (f"bytes={n}-", f"bytes={n + 10}-{n + 20}", "bytes=-0"):
        r = get(rng)
        assert r.status_code == 416, rng
        assert r.headers["Content-Range"] == f"bytes */{n}"
        assert r.json() == {"detail": "Range Not Satisfiable"}
    # ignored: several ranges, other units, nonsense, a stale If-Range -> the whole image
    for rng, extra in (("bytes=0-1,4-5", {}), ("items=0-1", {}), ("bytes=abc", {}), ("bytes=5-1", {}),
                       ("bytes=--1", {}), ("bytes=1-2", {"If-Range": '"stale"'}),
                       ("bytes=99999999999999999999999-", {}), ("bytes=0-" + "9" * 5000, {})):
        r = get(rng, **extra)
        assert r.status_code == 200 and r.content == data, (rng, r.status_code)
    r = get("bytes=0-3", **{"If-Range": etag})
    assert r.status_code == 206 and r.content == data[:4]
    # HEAD with a range: the headers alone
    r = server.http.head(url, headers={"Range": "bytes=0-3"}, timeout=10)
    assert r.status_code == 206 and r.headers["Content-Length"] == "4" and r.content == b""


def test_range_on_pending_media(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    s3.proxy.fail_next(10 ** 6, 503, methods=("PUT",))
    d = srv.upload(user, png_bytes(32, 32)).json()
    url = d["uploaded_image_url"]
    assert "/media/pending/" in url
    full = requests.get(url, timeout=10)
    data, n = full.content, len(full.content)
    assert full.status_code == 200 and full.headers["Accept-Ranges"] == "bytes"
    r = requests.get(url, headers={"Range": "bytes=2-9"}, timeout=10)
    assert r.status_code == 206 and r.content == data[2:10]
    assert r.headers["Content-Range"] == f"bytes 2-9/{n}"
    r = requests.get(url, headers={"Range": "bytes=-4"}, timeout=10)
    assert r.status_code == 206 and r.content == data[-4:]
    r = requests.get(url, headers={"Range": f"bytes={n}-"}, timeout=10)
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{n}"
    # pending images have no ETag: any If-Range asks for the whole
    r = requests.get(url, headers={"Range": "bytes=2-9", "If-Range": '"x"'}, timeout=10)
    assert r.status_code == 200 and r.content == data
    s3.proxy.fail_next(0, 503)


# ------------------------------------------------------------------ CORS

ALLOWED = "https://app.example.com"
OTHER_ALLOWED = "http://localhost:5173"
EXPOSED = {"etag", "retry-after", "x-request-id", "ratelimit-limit", "ratelimit-remaining",
           "ratelimit-reset", "idempotent-replayed", "location", "content-disposition"}


def header_set(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def preflight(srv, path, origin, method="POST", headers="authorization, content-type"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(srv.base + path, headers=h, timeout=10)


@pytest.fixture(scope="module")
def cors_server(novadraw_bin, tmp_path_factory):
    from conftest import NovaServer
    s = NovaServer(novadraw_bin, tmp_path_factory.mktemp("cors"),
                   env={"CORS_ORIGINS": f" {ALLOWED} , {OTHER_ALLOWED}"})
    s.start()
    yield s
    s.stop_and_check()


def test_cors_preflight_needs_no_token_and_no_route(cors_server):
    for path, method in (("/api/drawings/gallery", "GET"), ("/api/edit-image", "POST"),
                         ("/api/drawings/550e8400-e29b-41d4-a716-446655440000", "DELETE"),
                         ("/no/such/path", "GET"), ("/health", "PUT")):
        for origin in (ALLOWED, OTHER_ALLOWED, "HTTPS://APP.EXAMPLE.COM"):
            r = preflight(cors_server, path, origin, method)
            assert r.status_code == 204, (path, origin, r.status_code, r.text)
            assert r.content == b""
            assert r.headers["Access-Control-Allow-Origin"] == origin
            assert {"GET", "HEAD", "POST", "DELETE", "OPTIONS"} <= {
                m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
            assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= header_set(
                r.headers["Access-Control-Allow-Headers"])
            assert int(r.headers["Access-Control-Max-Age"]) > 0
            assert "Origin" in r.headers["Vary"]
            assert r.headers.get("X-Request-Id")
            assert "WWW-Authenticate" not in r.headers


def test_cors_answers_to_allowed_origins(cors_server):
    user = new_user()
    r = cors_server.get("/api/drawings/gallery", user, headers={"Origin": ALLOWED})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert EXPOSED <= header_set(r.headers["Access-Control-Expose-Headers"])
    assert "Origin" in r.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    # errors too, so the app can read them
    for path, u in (("/api/drawings/gallery", None), ("/nope", None), ("/api/drawings/gallery?page=0", user)):
        r = cors_server.get(path, u, headers={"Origin": OTHER_ALLOWED})
        assert r.status_code in (401, 404, 422)
        assert r.headers["Access-Control-Allow-Origin"] == OTHER_ALLOWED
    r = cors_server.request("PUT", "/health", headers={"Origin": ALLOWED})
    assert r.status_code == 405 and r.headers["Access-Control-Allow-Origin"] == ALLOWED


HOSTILE_ORIGINS = ["https://evil.example", "https://app.example.com.evil.example", "null", "file://",
                   "http://app.example.com", "https://app.example.com:443", "https://app.example.com/",
                   "", " ", "*", "https://app.example.com, https://evil.example",
                   "http://" + "a" * 10240, "javascript:alert(1)", "https://app.example.com\x00x"]


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_cors_nothing_for_other_origins(cors_server, origin):
    raw_origin = origin.replace("\x00", "%00")
    r = raw_get(cors_server.port, "/health", headers={"Origin": raw_origin})
    assert r.status == 200, r.status
    assert "access-control-allow-origin" not in {k.lower() for k, _ in r.header_list}
    assert "access-control-expose-headers" not in {k.lower() for k, _ in r.header_list}
    # a preflight from it is routed like any OPTIONS: 405, no CORS headers
    r = raw_get(cors_server.port, "/health", method="OPTIONS",
                headers={"Origin": raw_origin, "Access-Control-Request-Method": "GET"})
    assert r.status == 405
    assert "access-control-allow-origin" not in {k.lower() for k, _ in r.header_list}


def test_cors_origin_with_cr_lf_gets_a_clean_answer(cors_server):
    for origin in (b"https://app.example.com\rX-Injected: 1", b"https://app.example.com\nX-Injected: 1",
                   b"https://app.example.com\r\n\tfolded"):
        req = (b"GET /health HTTP/1.1\r\nHost: x\r\nOrigin: " + origin +
               b"\r\nConnection: close\r\n\r\n")
        r = raw_request(cors_server.port, req)
        assert r.status in (200, 400), r.status
        names = {k.lower() for k, _ in r.header_list}
        assert "x-injected" not in names
        # a bare LF ends the header line (MHD reads it so): the Origin is then exactly
        # the allowed one; never anything after it echoed
        assert r.header("Access-Control-Allow-Origin") in (None, ALLOWED)
        assert all("\r" not in v and "\n" not in v for _, v in r.header_list)
    assert cors_server.get("/health").status_code == 200


def test_cors_off_by_default(server):
    r = preflight(server, "/api/drawings/gallery", ALLOWED, "GET")
    assert r.status_code == 405
    r = server.get("/health", headers={"Origin": ALLOWED})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    assert "Vary" not in r.headers


def test_cors_star_allows_any_real_origin(server_factory):
    s = server_factory(env={"CORS_ORIGINS": "*"})
    for origin in ("https://anything.example", "http://127.0.0.1:1234", "capacitor://localhost"):
        r = s.get("/health", headers={"Origin": origin})
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert preflight(s, "/api/tutorials", origin, "GET").status_code == 204
    for origin in ("null", "file://", "https://x.example/path"):
        r = s.get("/health", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("value", ["https://x.example/", "x.example", "https://x.example,",
                                   "https://ok.example, null", "http://x:99999", "file://",
                                   "https://a.example,,https://b.example", "https://x.example\nfoo"])
def test_cors_origins_is_validated(server_factory, value):
    s = server_factory(env={"CORS_ORIGINS": value}, start=False)
    r = s.cli("migrate")
    assert r.returncode == 2, (value, r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config: CORS_ORIGINS:"), r.stderr
