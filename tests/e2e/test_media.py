"""GET /media/{key}: local storage serving, caching headers and path traversal."""
import uuid

import pytest

from helpers import decode, new_user, png_bytes, raw_get

CACHE = "public, max-age=31536000, immutable"
CANARY = "NDCANARY-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def drawing(server):
    user = new_user()
    d = server.upload(user, png_bytes(70, 50, (3, 4, 5))).json()
    # Files the traversal attempts aim at.
    (server.data_dir / "canary.txt").write_text(CANARY)
    (server.workdir / "canary.txt").write_text(CANARY)
    if not (server.data_dir / "jwt_secret").exists():  # this server has JWT_SECRET set
        (server.data_dir / "jwt_secret").write_text(CANARY)
    return user, d


def test_media_is_served_without_token(server, drawing):
    _, d = drawing
    r = server.http.get(d["uploaded_image_url"], timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers.get("ETag")
    assert r.headers.get("Cache-Control") == CACHE
    assert r.headers.get("X-Request-Id")
    on_disk = server.media_path(d["uploaded_image_url"]).read_bytes()
    assert r.content == on_disk
    assert int(r.headers["Content-Length"]) == len(on_disk)
    assert decode(r.content).size == (70, 50)


def test_thumbnail_is_webp(server, drawing):
    _, d = drawing
    r = server.http.get(d["thumbnail_url"], timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/webp"
    assert r.headers.get("Cache-Control") == CACHE
    img = decode(r.content)
    assert img.format == "WEBP" and max(img.size) <= 256


def test_etag_and_conditional_get(server, drawing):
    _, d = drawing
    url = d["uploaded_image_url"]
    r1 = server.http.get(url, timeout=10)
    r2 = server.http.get(url, timeout=10)
    etag = r1.headers["ETag"]
    assert etag == r2.headers["ETag"]
    assert etag.startswith('"') or etag.startswith('W/"'), etag

    r = server.http.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("X-Request-Id")
    assert r.headers.get("ETag") == etag

    r = server.http.get(url, headers={"If-None-Match": '"something-else", ' + etag}, timeout=10)
    assert r.status_code == 304

    r = server.http.get(url, headers={"If-None-Match": '"not-this-one"'}, timeout=10)
    assert r.status_code == 200 and r.content == r1.content

    thumb = server.http.get(d["thumbnail_url"], timeout=10)
    assert thumb.headers["ETag"] != etag


def test_head(server, drawing):
    _, d = drawing
    size = server.media_path(d["uploaded_image_url"]).stat().st_size
    r = server.http.head(d["uploaded_image_url"], timeout=10)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Type"] == "image/png"
    assert int(r.headers["Content-Length"]) == size
    assert r.headers.get("ETag")
    raw = raw_get(server.port, "/media/" + server.key_of(d["uploaded_image_url"]), method="HEAD")
    assert raw.status == 200 and raw.body == b""


def test_missing_key_is_404(server, drawing):
    user, d = drawing
    key = server.key_of(d["uploaded_image_url"])
    for path in ("/media/users/" + user + "/original/20250101_000000_000_" + "0" * 32 + ".png",
                 "/media/" + key[:-1],
                 "/media/" + key + ".png",
                 "/media/" + key + "/",
                 "/media/nothing.png",
                 "/media/"):
        r = server.get(path)
        assert r.status_code == 404, (path, r.status_code)


@pytest.mark.parametrize("path_fn", [
    lambda user, key: "/media/users",
    lambda user, key: "/media/users/" + user,
    lambda user, key: "/media/users/" + user + "/original",
    lambda user, key: "/media/users/" + user + "/original/",
])
def test_directories_are_404(server, drawing, path_fn):
    user, d = drawing
    r = raw_get(server.port, path_fn(user, server.key_of(d["uploaded_image_url"])))
    assert r.status == 404, r


TRAVERSALS = [
    "/media/../novadraw.db",
    "/media/%2e%2e/novadraw.db",
    "/media/%2E%2E/canary.txt",
    "/media/../canary.txt",
    "/media/../../canary.txt",
    "/media/users/../../jwt_secret",
    "/media/users/../../canary.txt",
    "/media/users/x/original/..%2f..%2fnovadraw.db",
    "/media/users/x/original/..%2f..%2f..%2f..%2fcanary.txt",
    "/media/%2e%2e%2fcanary.txt",
    "/media/..%5ccanary.txt",
    "/media/..\\canary.txt",
    "/media/./../canary.txt",
    "/media/....//canary.txt",
    "/media/%252e%252e/canary.txt",
    "/media/..",
    "/media/.",
    "/media//etc/passwd",
    "/media/%2fetc%2fpasswd",
    "/media/%00",
    "/media/users/x%00.png",
    "/media/../canary.txt%00.png",
    "/media/" + "a" * 5000,
    "/media/users/" + "b" * 300 + ".png",
    "/media/" + "/".join(["c" * 200] * 25),
    "/media/" + "../" * 50 + "etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t[:60])
def test_traversal_is_404(server, drawing, target):
    for method in ("GET", "HEAD"):
        r = raw_get(server.port, target, method=method)
        assert r.status == 404, (method, target, r.status, r.body[:200])
        assert CANARY.encode() not in r.body
        assert b"root:" not in r.body and b"SQLite format" not in r.body
    assert server.get("/health").status_code == 200


def test_absolute_path_is_404(server, drawing):
    target = "/media/" + str((server.data_dir / "canary.txt").resolve())
    r = raw_get(server.port, target)
    assert r.status == 404, r
    assert CANARY.encode() not in r.body


def test_deleted_media_is_404(server):
    user = new_user()
    d = server.upload(user, png_bytes(9, 9)).json()
    assert server.http.get(d["thumbnail_url"], timeout=10).status_code == 200
    assert server.delete("/api/drawings/" + d["id"], user).status_code == 200
    assert server.http.get(d["uploaded_image_url"], timeout=10).status_code == 404
    assert server.http.get(d["thumbnail_url"], timeout=10).status_code == 404
