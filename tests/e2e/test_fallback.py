"""The storage fallback end to end (SPEC §7, drawings.h): when S3 refuses every PUT
(the verifying proxy answers 503), uploads and edits still succeed, nothing is lost,
the images are served by the server from the database, the gallery never inlines
them, and once storage is back the worker stores every image (thumbnails included)
and the URLs become the objects' URLs. Runs on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import base64
import io
import requests
from PIL import Image

from helpers import new_user, png_bytes, wait_until

FOREVER = 10 ** 6
DATA_PNG = "data:image/png;base64,"
PENDING = "/media/pending/"


def image_urls(d: dict) -> list[str]:
    """Every image URL of a DrawingResponse, originals and thumbnails."""
    urls = [d["uploaded_image_url"], d["thumbnail_url"]]
    for e in d["edits"]:
        urls += [e["url"], e["thumbnail_url"]]
    return urls


def fetch_pending(url: str) -> tuple[bytes, str]:
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 200, (url, r.status_code, r.text[:200])
    assert r.headers["Cache-Control"] == "no-store"
    return r.content, r.headers["Content-Type"]


def edit_image(srv, user, data, prompt="make it black and white"):
    files = {"file": ("d.png", data, "image/png")}
    return srv.request("POST", "/api/edit-image", user, files=files, data={"prompt": prompt})


def test_edit_with_storage_down_keeps_every_image_then_stores_it(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))

    r = edit_image(srv, user, png_bytes(16, 16, color=(10, 120, 200)))
    assert r.status_code == 200, r.text
    body = r.json()
    # the seed's answer: the edited image inline
    assert body["result_image"].startswith(DATA_PNG)
    edited = base64.b64decode(body["result_image"][len(DATA_PNG):])
    assert Image.open(io.BytesIO(edited)).format == "PNG"
    did = body["drawing_id"]

    d = srv.get("/api/drawings/" + did, user).json()
    urls = image_urls(d)
    assert len(urls) == 4 and all(u and PENDING in u for u in urls), urls
    assert all(u.startswith(srv.base) for u in urls)
    served = {}
    for u, kind in zip(urls, ("PNG", "WEBP", "PNG", "WEBP")):
        data, ctype = fetch_pending(u)
        assert Image.open(io.BytesIO(data)).format == kind
        assert ctype == ("image/png" if kind == "PNG" else "image/webp")
        served[u] = data
    assert served[urls[2]] == edited

    # an edit of the saved drawing reads its original from the database
    r = srv.request("POST", f"/api/drawings/{did}/edits", user,
                    files={"prompt": (None, "make it sepia")})
    assert r.status_code == 200, r.text
    assert r.json()["result_image"].startswith(DATA_PNG)
    # a page of several drawings never carries an image's bytes
    assert srv.upload(user, png_bytes(8, 8, color=(200, 0, 0))).status_code == 201
    page = srv.gallery(user)
    assert page["count"] == 2 and "data:" not in str(page)
    assert s3.keys() == []

    s3.proxy.clear()  # storage is back

    def stored():
        d2 = srv.get("/api/drawings/" + did, user).json()
        return d2 if not any(PENDING in u for u in image_urls(d2)) else None

    d = wait_until(stored, 30, "the kept images to be stored")
    new_urls = image_urls(d)
    assert len(new_urls) == 6
    for old, new in zip(urls, new_urls):  # the same bytes, now in storage
        assert s3.get(s3.key_of(new)) == served[old]
        # the pending URL a client may still hold now leads to the object
        r = requests.get(old, allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == new
    assert {s3.key_of(u) for u in new_urls} <= set(s3.keys())
    # deleting it deletes the stored objects
    assert srv.delete("/api/drawings/" + did, user).status_code == 200
    assert not ({s3.key_of(u) for u in new_urls} & set(s3.keys()))


def test_plain_upload_with_storage_down_is_kept(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    original = png_bytes(12, 10, color=(0, 200, 0))
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))

    r = srv.upload(user, original)
    assert r.status_code == 201, r.text
    d = r.json()
    assert PENDING in d["uploaded_image_url"] and PENDING in d["thumbnail_url"]
    assert d["edited_images_urls"] == [] and d["edits"] == []
    png, _ = fetch_pending(d["uploaded_image_url"])
    assert Image.open(io.BytesIO(png)).size == (12, 10)
    assert srv.get("/api/drawings/" + d["id"], user).json() == d
    assert s3.keys() == []

    s3.proxy.clear()

    def stored():
        got = srv.get("/api/drawings/" + d["id"], user).json()
        return got if PENDING not in str(got) else None

    d2 = wait_until(stored, 30, "the upload to be stored")
    assert s3.get(s3.key_of(d2["uploaded_image_url"])) == png
    thumb = s3.get(s3.key_of(d2["thumbnail_url"]))
    assert Image.open(io.BytesIO(thumb)).format == "WEBP"


def test_drawing_deleted_while_pending_stores_nothing(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))
    d = srv.upload(user, png_bytes(8, 8)).json()
    pending = d["uploaded_image_url"]
    assert srv.delete("/api/drawings/" + d["id"], user).status_code == 200
    s3.proxy.clear()
    # its upload jobs find nothing to store, and say so
    wait_until(lambda: srv.log_text().count("jobs: upload ") >= 2, 30, "the upload jobs to run")
    assert s3.keys() == []
    # a pending URL of nothing kept leads to storage, where nothing is
    r = requests.get(pending, allow_redirects=False, timeout=10)
    assert r.status_code == 302


def test_pending_route_refuses_what_is_not_a_key(server):
    for path in ("/media/pending/../etc/passwd", "/media/pending/users/x/original/a.txt",
                 "/media/pending/", "/media/pending/%2e%2e/x.png"):
        r = requests.get(server.base + path, allow_redirects=False, timeout=10)
        assert r.status_code == 404, (path, r.status_code)
        assert r.json() == {"detail": "Not Found"}
