"""Managing the gallery (SPEC §11): GET /api/drawings/{id}/download (the original or an
edit as an attachment, from local storage, S3, or the pending table while storage is
down) and POST /api/drawings/bulk-delete (one transaction, objects removed as a single
DELETE removes them, FastAPI's 422 shapes for every bad body). Runs on SQLite and on
PostgreSQL."""
from __future__ import annotations

import io
import json
import uuid

import pytest
import requests
from PIL import Image

from helpers import new_user, png_bytes, quadrant_image, image_bytes, validation_entries, wait_until

FOREVER = 10 ** 6
PENDING = "/media/pending/"
NOT_FOUND = {"detail": "Drawing not found"}
EDIT_NOT_FOUND = {"detail": "Edit not found"}
TOO_LARGE = {"detail": "Request body too large"}


def entries(r):
    assert r.status_code == 422, f"{r.status_code} {r.text[:500]}"
    return validation_entries(r.json())


def add_edit(srv, user, did, prompt):
    r = srv.request("POST", f"/api/drawings/{did}/edits", user, files={"prompt": (None, prompt)})
    assert r.status_code == 200, r.text
    return r.json()


def download(srv, user, did, edit=None):
    params = None if edit is None else {"edit": edit}
    return srv.get(f"/api/drawings/{did}/download", user, params=params)


def check_attachment(r, did, name, want: bytes):
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"] == f'attachment; filename="drawing-{did}-{name}.png"'
    assert r.headers["Content-Length"] == str(len(want))
    assert r.content == want
    assert Image.open(io.BytesIO(r.content)).format == "PNG"


def fetch(srv, url) -> bytes:
    r = srv.http.get(url, timeout=10, allow_redirects=False)
    assert r.status_code == 200, (url, r.status_code)
    return r.content


def bulk_delete(srv, user, body, **kw):
    return srv.request("POST", "/api/drawings/bulk-delete", user, json=body, **kw)


# --------------------------------------------------------------------------- download

def test_download_original_edits_and_latest(server):
    user = new_user()
    src = quadrant_image(40, 30)
    d = server.upload(user, image_bytes(src, "PNG")).json()
    did = d["id"]
    original = fetch(server, d["uploaded_image_url"])
    # the stored original (normalised): the pixels of the upload
    assert Image.open(io.BytesIO(original)).convert("RGB").tobytes() == src.tobytes()

    r = download(server, user, did)
    check_attachment(r, did, "original", original)
    assert r.content == server.media_path(d["uploaded_image_url"]).read_bytes()

    # no edits yet: neither an edit number nor "latest" has anything to give
    for edit in ("1", "latest"):
        r = download(server, user, did, edit)
        assert r.status_code == 404 and r.json() == EDIT_NOT_FOUND, (edit, r.text)

    add_edit(server, user, did, "make it black and white")
    add_edit(server, user, did, "invert the colors")
    d = server.get(f"/api/drawings/{did}", user).json()
    urls = d["edited_images_urls"]
    assert len(urls) == 2
    edits = [fetch(server, u) for u in urls]
    assert edits[0] != edits[1] != original

    check_attachment(download(server, user, did, "1"), did, "edit-1", edits[0])
    check_attachment(download(server, user, did, "2"), did, "edit-2", edits[1])
    check_attachment(download(server, user, did, "latest"), did, "edit-2", edits[1])
    check_attachment(download(server, user, did, "+1"), did, "edit-1", edits[0])  # pydantic's lax int
    check_attachment(download(server, user, did), did, "original", original)
    # an uppercase id is the same drawing; the filename carries the canonical id
    check_attachment(download(server, user, did.upper()), did, "original", original)

    for edit in ("3", "2147483647"):
        r = download(server, user, did, edit)
        assert r.status_code == 404 and r.json() == EDIT_NOT_FOUND, (edit, r.text)


@pytest.mark.parametrize("edit, kind", [
    ("0", "greater_than_equal"),
    ("-1", "greater_than_equal"),
    ("abc", "int_parsing"),
    ("1.5", "int_parsing"),
    ("", "int_parsing"),
    ("LATEST", "int_parsing"),
    ("latest ", "int_parsing"),
    ("99999999999999999999999", "less_than_equal"),
    ("2147483648", "less_than_equal"),
])
def test_download_bad_edit_is_422(server, edit, kind):
    user = new_user()
    did = server.upload(user, png_bytes(8, 8)).json()["id"]
    e = entries(download(server, user, did, edit))
    assert len(e) == 1, e
    assert e[0]["loc"] == ["query", "edit"] and e[0]["type"] == kind, e
    assert e[0]["input"] == edit


def test_download_bad_id_and_ownership(server):
    owner, other = new_user(), new_user()
    did = server.upload(owner, png_bytes(8, 8)).json()["id"]

    for user in (other,):
        for edit in (None, "1", "latest"):
            r = download(server, user, did, edit)
            assert r.status_code == 404 and r.json() == NOT_FOUND, (edit, r.text)
    r = download(server, owner, str(uuid.uuid4()))
    assert r.status_code == 404 and r.json() == NOT_FOUND
    # a bad id answers as GET /api/drawings/{id} does
    got = server.get("/api/drawings/not-a-uuid", owner)
    r = download(server, owner, "not-a-uuid")
    assert r.status_code == 422 and r.json() == got.json()
    assert entries(r)[0]["loc"] == ["path", "drawing_id"]
    # every bad parameter at once
    e = entries(download(server, owner, "not-a-uuid", "0"))
    assert [x["loc"] for x in e] == [["path", "drawing_id"], ["query", "edit"]]
    # a token is required
    r = server.get(f"/api/drawings/{did}/download")
    assert r.status_code == 401
    assert server.request("POST", f"/api/drawings/{did}/download", owner).status_code == 405


def test_download_from_s3_and_while_pending(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    d = srv.upload(user, png_bytes(20, 12, color=(0, 90, 200))).json()
    did = d["id"]
    add_edit(srv, user, did, "make it sepia")
    d = srv.get(f"/api/drawings/{did}", user).json()
    original = s3.get(s3.key_of(d["uploaded_image_url"]))
    edit = s3.get(s3.key_of(d["edited_images_urls"][0]))
    check_attachment(download(srv, user, did), did, "original", original)
    check_attachment(download(srv, user, did, "latest"), did, "edit-1", edit)
    check_attachment(download(srv, user, did, "1"), did, "edit-1", edit)

    # storage refuses every PUT: the new drawing and its edit are kept in the database,
    # and a download gives the bytes its pending URL gives
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))
    p = srv.upload(user, png_bytes(10, 10, color=(200, 200, 0))).json()
    add_edit(srv, user, p["id"], "make it black and white")
    p = srv.get(f"/api/drawings/{p['id']}", user).json()
    assert PENDING in p["uploaded_image_url"] and PENDING in p["edited_images_urls"][0]
    kept_original = fetch(srv, p["uploaded_image_url"])
    kept_edit = fetch(srv, p["edited_images_urls"][0])
    check_attachment(download(srv, user, p["id"]), p["id"], "original", kept_original)
    check_attachment(download(srv, user, p["id"], "latest"), p["id"], "edit-1", kept_edit)
    # another user still gets nothing
    assert download(srv, new_user(), p["id"]).json() == NOT_FOUND

    # once storage is back and the worker has stored them: the same bytes, from S3
    s3.proxy.clear()

    def stored():
        got = srv.get(f"/api/drawings/{p['id']}", user).json()
        return got if PENDING not in str(got) else None

    p2 = wait_until(stored, 30, "the kept images to be stored")
    assert s3.get(s3.key_of(p2["uploaded_image_url"])) == kept_original
    check_attachment(download(srv, user, p["id"]), p["id"], "original", kept_original)
    check_attachment(download(srv, user, p["id"], "1"), p["id"], "edit-1", kept_edit)

    # storage refusing reads: 503, not a partial answer
    s3.proxy.fail_next(FOREVER, 503, methods=("GET",))
    r = download(srv, user, did)
    assert r.status_code == 503 and r.json() == {"detail": "Storage unavailable"}, r.text
    assert "Content-Disposition" not in r.headers
    s3.proxy.clear()
    check_attachment(download(srv, user, did), did, "original", original)


# --------------------------------------------------------------------------- bulk delete

def count_rows(srv, table, user):
    if table == "drawings":
        return int(srv.db_scalar(f"SELECT count(*) FROM drawings WHERE user_id = '{user}'"))
    return int(srv.db_scalar(
        f"SELECT count(*) FROM edits WHERE drawing_id IN (SELECT id FROM drawings WHERE user_id = '{user}')"))


def test_bulk_delete_order_duplicates_and_ownership(server):
    user, other = new_user(), new_user()
    mine = [server.upload(user, png_bytes(8, 8, color=(i * 40, 0, 0))).json()["id"] for i in range(4)]
    add_edit(server, user, mine[0], "make it black and white")
    theirs = server.upload(other, png_bytes(8, 8)).json()["id"]
    unknown = str(uuid.uuid4())
    kept_files = server.media_files(user)
    d3 = server.get(f"/api/drawings/{mine[3]}", user).json()
    files_of_3 = {str(server.media_path(u).relative_to(server.data_dir))
                  for u in (d3["uploaded_image_url"], d3["thumbnail_url"])}
    other_files = server.media_files(other)
    assert len(kept_files) == 10 and len(other_files) == 2

    ids = [mine[2], theirs, unknown, mine[0].upper(), mine[2], mine[1], "{%s}" % unknown]
    r = bulk_delete(server, user, {"ids": ids})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"success": True, "deleted": [mine[2], mine[0], mine[1]],
                        "not_found": [theirs, unknown]}

    for did in mine[:3]:
        assert server.get(f"/api/drawings/{did}", user).json() == NOT_FOUND
    assert server.get(f"/api/drawings/{mine[3]}", user).status_code == 200
    assert server.get(f"/api/drawings/{theirs}", other).status_code == 200
    # rows and objects gone, exactly those
    assert count_rows(server, "drawings", user) == 1
    assert count_rows(server, "edits", user) == 0
    assert server.media_files(user) == files_of_3
    assert server.media_files(other) == other_files
    assert server.stats(user)["total_drawings"] == 1
    assert server.stats(user)["edited_drawings"] == 0
    assert server.stats(other)["total_drawings"] == 1

    # again: nothing left to delete, in request order
    r = bulk_delete(server, user, {"ids": [mine[1], mine[3], mine[0]]})
    assert r.json() == {"success": True, "deleted": [mine[3]], "not_found": [mine[1], mine[0]]}
    assert server.media_files(user) == set()
    assert count_rows(server, "drawings", user) == 0
    assert server.gallery(user)["count"] == 0


def test_bulk_delete_a_hundred_ids(server):
    user = new_user()
    mine = [server.upload(user, png_bytes(4, 4)).json()["id"] for _ in range(3)]
    ids = [str(uuid.uuid4()) for _ in range(97)] + mine
    r = bulk_delete(server, user, {"ids": ids, "extra": {"ignored": True}})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "deleted": mine, "not_found": ids[:97]}
    assert server.media_files(user) == set()


def test_bulk_delete_removes_s3_objects_and_queues_what_storage_refuses(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    ids = [srv.upload(user, png_bytes(6, 6, color=(0, i * 60, 0))).json()["id"] for i in range(3)]
    add_edit(srv, user, ids[0], "make it sepia")
    assert len(s3.keys()) == 8
    r = bulk_delete(srv, user, {"ids": ids[:2]})
    assert r.json() == {"success": True, "deleted": ids[:2], "not_found": []}
    assert len(s3.keys()) == 2 and all(k.startswith(f"users/{user}/") for k in s3.keys())

    # storage refusing deletes: the rows still go, the objects' deletion is queued and
    # done once storage is back
    s3.proxy.fail_next(FOREVER, 503, methods=("DELETE",))
    r = bulk_delete(srv, user, {"ids": [ids[2]]})
    assert r.status_code == 200 and r.json()["deleted"] == [ids[2]], r.text
    assert count_rows(srv, "drawings", user) == 0
    assert len(s3.keys()) == 2
    s3.proxy.clear()
    wait_until(lambda: s3.keys() == [], 30, "the queued deletes to run")

    # a drawing still pending has no object to delete: its bytes go with the row
    s3.proxy.fail_next(FOREVER, 503, methods=("PUT",))
    p = srv.upload(user, png_bytes(6, 6)).json()
    assert PENDING in p["uploaded_image_url"]
    r = bulk_delete(srv, user, {"ids": [p["id"]]})
    assert r.json() == {"success": True, "deleted": [p["id"]], "not_found": []}
    assert int(srv.db_scalar("SELECT count(*) FROM pending")) == 0
    s3.proxy.clear()
    assert s3.keys() == []


VALID = "0b0e5c5e-8c5c-4a3e-9f0e-3d1a2b4c5d6e"


@pytest.mark.parametrize("body, want", [
    ({}, [(["body", "ids"], "missing")]),
    ({"id": [VALID]}, [(["body", "ids"], "missing")]),
    ({"ids": VALID}, [(["body", "ids"], "list_type")]),
    ({"ids": None}, [(["body", "ids"], "list_type")]),
    ({"ids": {"0": VALID}}, [(["body", "ids"], "list_type")]),
    ({"ids": []}, [(["body", "ids"], "too_short")]),
    ({"ids": [VALID] * 101}, [(["body", "ids"], "too_long")]),
    ({"ids": [1]}, [(["body", "ids", 0], "uuid_type")]),
    ({"ids": [VALID, "nope"]}, [(["body", "ids", 1], "uuid_parsing")]),
    ({"ids": [VALID, None, [VALID], VALID + "0"]},
     [(["body", "ids", 1], "uuid_type"), (["body", "ids", 2], "uuid_type"),
      (["body", "ids", 3], "uuid_parsing")]),
])
def test_bulk_delete_bad_ids(server, body, want):
    user = new_user()
    did = server.upload(user, png_bytes(4, 4)).json()["id"]
    if body.get("ids") == [VALID] * 101:
        body = {"ids": [did] * 101}
    e = entries(bulk_delete(server, user, body))
    assert [(x["loc"], x["type"]) for x in e] == want, e
    # nothing was deleted
    assert server.get(f"/api/drawings/{did}", user).status_code == 200


def test_bulk_delete_length_messages(server):
    user = new_user()
    e = entries(bulk_delete(server, user, {"ids": []}))
    assert e == [{"type": "too_short", "loc": ["body", "ids"],
                  "msg": "List should have at least 1 item after validation, not 0", "input": [],
                  "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0}}]
    e = entries(bulk_delete(server, user, {"ids": [VALID] * 150}))
    assert e[0]["msg"] == "List should have at most 100 items after validation, not 150"
    assert e[0]["ctx"] == {"field_type": "List", "max_length": 100, "actual_length": 150}
    e = entries(bulk_delete(server, user, {"ids": [VALID, 7]}))
    assert e == [{"type": "uuid_type", "loc": ["body", "ids", 1],
                  "msg": "UUID input should be a string, bytes or UUID object", "input": 7}]
    e = entries(bulk_delete(server, user, {}))
    assert e == [{"type": "missing", "loc": ["body", "ids"], "msg": "Field required", "input": {}}]


@pytest.mark.parametrize("data, ctype, kind", [
    (b"", "application/json", "missing"),
    (b"{\"ids\": [", "application/json", "json_invalid"),
    (b"not json", "application/json", "json_invalid"),
    (b"{\"ids\": [], \"ids\": []}", "application/json", "json_invalid"),
    # a NUL escaped in a string is JSON; as an id it is not a UUID
    (b"{\"ids\": [\"" + VALID.encode() + b"\\u0000\"]}", "application/json", "uuid_parsing"),
    (b"[\"" + VALID.encode() + b"\"]", "application/json", "model_attributes_type"),
    (b"\"ids\"", "application/json", "model_attributes_type"),
    (json.dumps({"ids": [VALID]}).encode(), "text/plain", "model_attributes_type"),
    (b"ids=" + VALID.encode(), "application/x-www-form-urlencoded", "model_attributes_type"),
])
def test_bulk_delete_not_that_json(server, data, ctype, kind):
    user = new_user()
    did = server.upload(user, png_bytes(4, 4)).json()["id"]
    if data:
        data = data.replace(VALID.encode(), did.encode())
    r = server.request("POST", "/api/drawings/bulk-delete", user, data=data,
                       headers={"Content-Type": ctype})
    e = entries(r)
    assert len(e) == 1 and e[0]["type"] == kind, e
    if kind == "json_invalid":
        assert e[0]["loc"][0] == "body" and isinstance(e[0]["loc"][1], int), e
    elif kind == "uuid_parsing":
        assert e[0]["loc"] == ["body", "ids", 0], e
    else:
        assert e[0]["loc"] == ["body"], e
    assert server.get(f"/api/drawings/{did}", user).status_code == 200


def test_bulk_delete_too_large_auth_and_method(server):
    user = new_user()
    did = server.upload(user, png_bytes(4, 4)).json()["id"]
    big = b'{"ids": ["' + b"a" * (10 * 1024 * 1024) + b'"]}'
    r = server.request("POST", "/api/drawings/bulk-delete", user, data=big,
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json() == TOO_LARGE

    def chunks():
        for i in range(0, len(big), 256 * 1024):
            yield big[i:i + 256 * 1024]

    r = server.request("POST", "/api/drawings/bulk-delete", user, data=chunks(),
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json() == TOO_LARGE
    r = server.request("POST", "/api/drawings/bulk-delete", None, json={"ids": [did]})
    assert r.status_code == 401
    assert server.get(f"/api/drawings/{did}", user).status_code == 200
    assert server.get("/health").status_code == 200
