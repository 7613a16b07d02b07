"""Export (SPEC §11): GET /api/drawings/export streams a ZIP of drawings.json (the
gallery's DrawingResponse objects, every page) and each drawing's original and edits,
byte for byte what their URLs serve; the gallery's filters apply (and their 422s); a
user without drawings gets drawings.json = []; another user's drawings never appear;
images kept pending while storage refuses them are included; S3 works; an error after
the 200 began cuts the transfer (never a valid ZIP with something missing); a client
that leaves mid-way, or a server stopping mid-export, leaves nothing behind. Runs on
SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import signal
import socket
import zipfile

import pytest
import requests

from helpers import new_user, noisy_png, png_bytes, validation_entries, wait_until

FOREVER = 10 ** 6
PENDING = "/media/pending/"
NAME_RE = re.compile(r'^attachment; filename="novadraw-export-(\d{8})\.zip"$')


def export(srv, user, **params):
    r = srv.get("/api/drawings/export", user, params=params or None, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"] == "application/zip"
    m = NAME_RE.match(r.headers["Content-Disposition"])
    assert m, r.headers["Content-Disposition"]
    today = {dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")}
    assert m.group(1) in today | {(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).strftime("%Y%m%d")}
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None  # every entry's CRC checks out
    assert z.namelist()[0] == "drawings.json"
    return z


def gallery_all(srv, user, **params) -> list[dict]:
    """Every page of the gallery, through the API (page size 7, to cross pages)."""
    out, page = [], 1
    while True:
        body = srv.gallery(user, page=page, limit=7, **params)
        out += body["data"]
        if len(body["data"]) < 7:
            assert len(out) == body["count"]
            return out
        page += 1


def fetch(srv, url) -> bytes:
    r = srv.http.get(url, timeout=10)
    assert r.status_code == 200, (url, r.status_code)
    return r.content


def add_edit(srv, user, did, prompt):
    r = srv.request("POST", f"/api/drawings/{did}/edits", user, files={"prompt": (None, prompt)})
    assert r.status_code == 200, r.text


def check_archive(srv, z, want: list[dict]):
    """z holds exactly want's drawings.json and images, each image the bytes its URL gives."""
    assert json.loads(z.read("drawings.json")) == want
    names = ["drawings.json"]
    for d in want:
        names.append(f"{d['id']}/original.png")
        assert z.read(f"{d['id']}/original.png") == fetch(srv, d["uploaded_image_url"])
        for n, url in enumerate(d["edited_images_urls"], 1):
            names.append(f"{d['id']}/edit-{n}.png")
            assert z.read(f"{d['id']}/edit-{n}.png") == fetch(srv, url), (d["id"], n)
    assert sorted(z.namelist()) == sorted(names)
    # images are stored (PNGs are compressed already), the JSON deflated
    for info in z.infolist():
        want_type = zipfile.ZIP_DEFLATED if info.filename == "drawings.json" else zipfile.ZIP_STORED
        assert info.compress_type == want_type, info.filename


# --------------------------------------------------------------------------- content

def test_empty_user_gets_an_empty_archive(server):
    z = export(server, new_user())
    assert z.namelist() == ["drawings.json"]
    assert json.loads(z.read("drawings.json")) == []


def test_archive_matches_the_gallery_and_the_images(server):
    user, other = new_user(), new_user()
    tut = server.add_tutorial("Export")
    ids = []
    for i in range(9):
        ids.append(server.upload(user, png_bytes(16 + i, 12, color=(i * 20, 50, 90)),
                                 tutorial_id=tut if i % 3 == 0 else None).json()["id"])
    add_edit(server, user, ids[2], "make it black and white")
    add_edit(server, user, ids[2], "make it sepia")
    add_edit(server, user, ids[5], "make it colorful")
    server.upload(other, png_bytes(30, 30))  # another user's drawing never shows

    z = export(server, user)
    want = gallery_all(server, user)
    assert len(want) == 9
    check_archive(server, z, want)
    assert not any(d["user_id"] != user for d in json.loads(z.read("drawings.json")))
    assert [d["id"] for d in want][::-1] == ids  # newest first, as the gallery
    assert len([n for n in z.namelist() if "/edit-" in n]) == 3

    # the other user's export holds theirs only
    zo = export(server, other)
    assert len(json.loads(zo.read("drawings.json"))) == 1
    assert not any(i in n for n in zo.namelist() for i in ids)


def test_more_than_a_page_of_drawings(server):
    """More drawings than the producer reads at a time (100): each once, in order."""
    user = new_user()
    img = png_bytes(8, 8)
    for _ in range(105):
        server.upload(user, img)
    z = export(server, user)
    want = gallery_all(server, user)
    got = json.loads(z.read("drawings.json"))
    assert len(got) == 105 and got == want
    assert len(z.namelist()) == 106 and len(set(z.namelist())) == 106
    z = export(server, user, sort="oldest")
    assert json.loads(z.read("drawings.json")) == want[::-1]


def test_filters_apply(server):
    user = new_user()
    tut = server.add_tutorial("Filtered export")
    a = server.upload(user, png_bytes(10, 10), tutorial_id=tut).json()["id"]
    b = server.upload(user, png_bytes(11, 10)).json()["id"]
    c = server.upload(user, png_bytes(12, 10), tutorial_id=tut).json()["id"]
    add_edit(server, user, b, "make it sepia")
    add_edit(server, user, c, "make it black and white")
    created = server.get(f"/api/drawings/{b}", user).json()["created_at"]

    cases = [
        ({"tutorial_id": tut}, {a, c}),
        ({"edited": "true"}, {b, c}),
        ({"edited": "false"}, {a}),
        ({"q": "sepi"}, {b}),
        ({"q": "black", "tutorial_id": tut}, {c}),
        ({"from": created}, {b, c}),
        ({"to": created}, {a}),
        ({"sort": "oldest"}, {a, b, c}),
        ({"tutorial_id": "00000000-0000-4000-8000-000000000000"}, set()),
    ]
    for params, want_ids in cases:
        z = export(server, user, **params)
        want = gallery_all(server, user, **params)
        assert {d["id"] for d in want} == want_ids, params
        check_archive(server, z, want)


@pytest.mark.parametrize("params", [
    {"tutorial_id": "nope"},
    {"from": "yesterday", "to": "2025-13-01"},
    {"q": ""},
    {"q": "x" * 201},
    {"q": "!!!"},
    {"edited": "maybe", "sort": "sideways"},
])
def test_bad_filters_are_the_gallerys_422(server, params):
    user = new_user()
    r = server.get("/api/drawings/export", user, params=params)
    g = server.get("/api/drawings/gallery", user, params=params)
    assert r.status_code == 422 and g.status_code == 422
    assert r.json() == g.json()
    assert validation_entries(r.json())
    assert "Content-Disposition" not in r.headers


def test_needs_a_token_and_get(server):
    r = server.get("/api/drawings/export")
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    r = server.request("POST", "/api/drawings/export", new_user())
    assert r.status_code == 405


# --------------------------------------------------------------------------- storage

def test_s3_pending_and_a_failure_mid_way(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    d = srv.upload(user, png_bytes(20, 12, color=(0, 90, 200))).json()
    add_edit(srv, user, d["id"], "make it sepia")
    z = export(srv, user)
    want = gallery_all(srv, user)
    check_archive(srv, z, want)
    d = want[0]
    assert z.read(f"{d['id']}/original.png") == s3.get(s3.key_of(d["uploaded_image_url"]))
    assert z.read(f"{d['id']}/edit-1.png") == s3.get(s3.key_of(d["edited_images_urls"][0]))

    # storage refusing writes: kept pending in the database, and exported all the same,
    # with the bytes their pending URLs give
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))
    p = srv.upload(user, png_bytes(10, 10, color=(200, 200, 0))).json()
    add_edit(srv, user, p["id"], "make it black and white")
    p = srv.get(f"/api/drawings/{p['id']}", user).json()
    assert PENDING in p["uploaded_image_url"] and PENDING in p["edited_images_urls"][0]
    z = export(srv, user)
    want = gallery_all(srv, user)
    assert [d["id"] for d in want] == [p["id"], d["id"]]
    check_archive(srv, z, want)
    assert len(z.read(f"{p['id']}/edit-1.png")) > 0
    s3.proxy.clear()
    wait_until(lambda: PENDING not in json.dumps(gallery_all(srv, user)), 30,
               "the kept image to be stored")

    # storage refusing reads once the answer has begun: the transfer is cut, not ended
    s3.proxy.fail_next(FOREVER, 503, methods=("GET",))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        srv.get("/api/drawings/export", user, timeout=120)
    wait_until(lambda: "transfer is cut" in srv.log_text(), 30, "the failure to be logged")
    s3.proxy.clear()
    check_archive(srv, export(srv, user), gallery_all(srv, user))


def test_a_missing_object_cuts_the_transfer(server_factory):
    """Local storage: an image file gone behind the server's back fails the export;
    the client sees a truncated body, never a complete ZIP without it."""
    srv = server_factory()
    user = new_user()
    for i in range(3):
        srv.upload(user, png_bytes(10 + i, 10))
    victim = gallery_all(srv, user)[1]
    srv.media_path(victim["uploaded_image_url"]).unlink()
    raw = raw_export(srv, user)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in head.lower()
    assert not body.endswith(b"0\r\n\r\n"), "the chunked body was ended as if complete"
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(dechunk_partial(body)))
    assert "transfer is cut" in srv.log_text()
    assert srv.get("/health").status_code == 200


# --------------------------------------------------------------------------- the stream

def raw_export(srv, user, limit: int | None = None, timeout: float = 60) -> bytes:
    """GET the export over a raw socket: everything until the server closes (or, with
    limit, the first limit bytes, then the socket is closed)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    tok = srv.token(user)
    s.sendall(f"GET /api/drawings/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
              f"Connection: close\r\n\r\n".encode())
    got = b""
    try:
        while limit is None or len(got) < limit:
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        s.close()
    return got


def dechunk_partial(body: bytes) -> bytes:
    out, i = b"", 0
    while True:
        j = body.find(b"\r\n", i)
        if j < 0:
            return out
        n = int(body[i:j].split(b";")[0], 16)
        out += body[j + 2:j + 2 + n]
        i = j + 2 + n + 2
        if n == 0 or i > len(body):
            return out


@pytest.fixture(scope="module")
def big_user(server):
    """A user whose archive (about 6 MB) outgrows the server's buffer and the sockets'."""
    user = new_user()
    for i in range(30):
        server.upload(user, noisy_png(256, 256, seed=i))
    return user


def test_a_large_archive_streams_whole(server, big_user):
    z = export(server, big_user)
    check_archive(server, z, gallery_all(server, big_user))
    assert sum(i.file_size for i in z.infolist()) > 5_000_000


def test_a_client_leaving_mid_way_leaves_the_server_healthy(server, big_user):
    before = server.log_text().count("method=GET route=/api/drawings/export ")
    for _ in range(3):
        got = raw_export(server, big_user, limit=200_000)
        assert got.startswith(b"HTTP/1.1 200 ")
    wait_until(lambda: server.log_text().count("method=GET route=/api/drawings/export ") >= before + 3, 30,
               "the three exports to end")
    assert server.get("/health").status_code == 200
    # and the next export is whole
    check_archive(server, export(server, big_user), gallery_all(server, big_user))


def test_stopping_the_server_mid_export(server_factory):
    """SIGTERM while a client has stopped reading an export: after the shutdown grace
    (30 s, as for any answer in flight) the server stops cleanly (exit 0: nothing left
    suspended in MHD, no leak under ASan) and the client sees a cut."""
    srv = server_factory()
    user = new_user()
    for i in range(48):  # about 9 MB: more than the socket buffers hold
        srv.upload(user, noisy_png(256, 256, seed=100 + i))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", srv.port))
    tok = srv.token(user)
    s.sendall(f"GET /api/drawings/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
              f"\r\n".encode())
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(60) == 0, srv.log_text()[-4000:]
    srv.stop_and_check()
    got = first
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        got += b
    s.close()
    assert not got.endswith(b"0\r\n\r\n")
