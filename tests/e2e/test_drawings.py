"""Drawings: create, get, gallery (pagination and validation), delete, stats and
ownership (SPEC section 5)."""
import datetime as dt
import time
import uuid

import pytest

from conftest import check_drawing_shape
from helpers import (UUID_RE, assert_recent, decode, image_bytes, media_url_re, new_user,
                     parse_time, png_bytes, quadrant_image, validation_entries, wait_until)

NOT_FOUND = {"detail": "Drawing not found"}


def entries(r):
    assert r.status_code == 422, f"{r.status_code} {r.text}"
    return validation_entries(r.json())


# --------------------------------------------------------------------------- create

def test_create_drawing_response_and_storage(server):
    user = new_user()
    src = quadrant_image(64, 48)
    r = server.upload(user, image_bytes(src, "PNG"))
    assert r.headers["Content-Type"].startswith("application/json")
    d = r.json()
    check_drawing_shape(d)
    assert UUID_RE.match(d["id"]), d["id"]
    assert d["user_id"] == user
    assert d["tutorial_id"] is None
    assert d["edited_images_urls"] == []
    assert d["edits"] == []
    assert_recent(d["created_at"])
    assert_recent(d["updated_at"])
    assert d["created_at"] == d["updated_at"]

    m = media_url_re(server.port, user, "original", "png").match(d["uploaded_image_url"])
    assert m, d["uploaded_image_url"]
    stamp = dt.datetime.strptime("".join(m.groups()[:2]), "%Y%m%d%H%M%S").replace(
        tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 300, \
        "the key's timestamp is not the UTC upload time"
    assert media_url_re(server.port, user, "thumbnail", "webp").match(d["thumbnail_url"]), \
        d["thumbnail_url"]
    assert d["uploaded_image_url"] != d["thumbnail_url"]

    # The stored original: on disk, served back, a PNG with the same pixels.
    orig_path = server.media_path(d["uploaded_image_url"])
    assert orig_path.is_file()
    got = server.http.get(d["uploaded_image_url"], timeout=10)
    assert got.status_code == 200
    assert got.content == orig_path.read_bytes()
    img = decode(got.content)
    assert img.format == "PNG"
    assert img.size == (64, 48)
    assert img.convert("RGB").tobytes() == src.tobytes(), "stored pixels differ from the upload"

    # The thumbnail: a WebP no bigger than 256 px.
    thumb_path = server.media_path(d["thumbnail_url"])
    assert thumb_path.is_file()
    t = decode(thumb_path.read_bytes())
    assert t.format == "WEBP"
    assert max(t.size) <= 256

    # GET by id returns the same object.
    r2 = server.get("/api/drawings/" + d["id"], user)
    assert r2.status_code == 200
    assert r2.json() == d


def test_thumbnail_is_256px_and_keeps_aspect(server):
    user = new_user()
    d = server.upload(user, png_bytes(640, 480, (10, 200, 90))).json()
    t = decode(server.media_path(d["thumbnail_url"]).read_bytes())
    assert t.size[0] == 256 and abs(t.size[1] - 192) <= 1, t.size
    r, g, b = t.convert("RGB").getpixel((128, 96))
    assert abs(r - 10) < 20 and abs(g - 200) < 20 and abs(b - 90) < 20


def test_png_transparency_is_kept(server):
    user = new_user()
    from PIL import Image
    img = Image.new("RGBA", (40, 40), (255, 0, 0, 255))
    img.paste((0, 0, 255, 0), (0, 0, 20, 40))
    d = server.upload(user, image_bytes(img, "PNG")).json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.mode in ("RGBA", "LA", "P") or "transparency" in stored.info, stored.mode
    rgba = stored.convert("RGBA")
    assert rgba.getpixel((5, 5))[3] == 0
    assert rgba.getpixel((35, 5)) == (255, 0, 0, 255)


@pytest.mark.parametrize("mode,color", [("L", 128), ("LA", (90, 200)), ("P", 3), ("RGB", (1, 2, 3)),
                                        ("I;16", 40000), ("1", 1)])
def test_png_variants_are_accepted(server, mode, color):
    user = new_user()
    d = server.upload(user, png_bytes(33, 17, color, mode=mode)).json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.format == "PNG" and stored.size == (33, 17)


def test_ids_and_keys_are_unique(server):
    user = new_user()
    data = png_bytes(8, 8)
    seen_ids, seen_urls = set(), set()
    for _ in range(5):
        d = server.upload(user, data).json()
        seen_ids.add(d["id"])
        seen_urls.add(d["uploaded_image_url"])
        seen_urls.add(d["thumbnail_url"])
    assert len(seen_ids) == 5 and len(seen_urls) == 10


# --------------------------------------------------------------------------- create errors

def test_missing_file_is_422(server):
    user = new_user()
    r = server.request("POST", "/api/drawings", user, data={"tutorial_id": ""},
                       files={"other": ("x.png", png_bytes(4, 4), "image/png")})
    e = entries(r)
    assert len(e) == 1
    assert e[0]["loc"] == ["body", "file"]
    assert e[0]["type"] == "missing"
    assert e[0]["msg"] == "Field required"


def test_empty_body_is_422_missing_file(server):
    user = new_user()
    r = server.request("POST", "/api/drawings", user)
    e = entries(r)
    assert [(x["loc"], x["type"], x["msg"]) for x in e] == [(["body", "file"], "missing",
                                                            "Field required")]
    assert server.media_files(user) == set()


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "550e8400-e29b-41d4-a716-44665544000Z",
                                 "550e8400e29b41d4a716446655440000ff"])
def test_tutorial_id_not_uuid_is_422(server, bad):
    user = new_user()
    r = server.upload(user, png_bytes(8, 8), tutorial_id=bad, expect=None)
    e = entries(r)
    assert [(x["loc"], x["type"]) for x in e] == [(["body", "tutorial_id"], "uuid_parsing")]
    assert server.media_files(user) == set()
    assert server.gallery(user)["count"] == 0


def test_empty_tutorial_id_is_absent(server):
    user = new_user()
    d = server.upload(user, png_bytes(8, 8), tutorial_id="").json()
    assert d["tutorial_id"] is None


def test_unknown_tutorial_is_404_and_nothing_stored(server):
    user = new_user()
    server.upload(user, png_bytes(8, 8))
    before_all = server.media_files()
    r = server.upload(user, png_bytes(8, 8), tutorial_id=str(uuid.uuid4()), expect=None)
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "Tutorial not found"}
    assert server.media_files() == before_all
    assert server.gallery(user)["count"] == 1
    assert server.stats(user)["total_drawings"] == 1


def test_valid_tutorial_is_recorded(server):
    user = new_user()
    tid = server.add_tutorial("Draw a cat " + uuid.uuid4().hex[:6])
    assert UUID_RE.match(tid)
    d = server.upload(user, png_bytes(8, 8), tutorial_id=tid).json()
    assert d["tutorial_id"] == tid
    got = server.get("/api/drawings/" + d["id"], user).json()
    assert got["tutorial_id"] == tid
    # An uppercase spelling of the same tutorial id is the same tutorial.
    d2 = server.upload(user, png_bytes(8, 8), tutorial_id=tid.upper()).json()
    assert d2["tutorial_id"] == tid


# --------------------------------------------------------------------------- get

def test_get_bad_uuid_is_422(server):
    user = new_user()
    for bad in ("not-a-uuid", "1234", "550e8400-e29b-41d4-a716-4466554400000"):
        e = entries(server.get("/api/drawings/" + bad, user))
        assert [(x["loc"], x["type"]) for x in e] == [(["path", "drawing_id"], "uuid_parsing")]


def test_get_unknown_is_404(server):
    user = new_user()
    r = server.get("/api/drawings/" + str(uuid.uuid4()), user)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


def test_get_accepts_uppercase_id(server):
    user = new_user()
    d = server.upload(user, png_bytes(8, 8)).json()
    r = server.get("/api/drawings/" + d["id"].upper(), user)
    assert r.status_code == 200, r.text
    assert r.json() == d


def test_get_other_users_drawing_is_404(server):
    a, b = new_user(), new_user()
    d = server.upload(a, png_bytes(8, 8)).json()
    r = server.get("/api/drawings/" + d["id"], b)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    assert server.get("/api/drawings/" + d["id"], a).status_code == 200


# --------------------------------------------------------------------------- gallery

def test_gallery_pagination_25(server):
    user = new_user()
    created = []
    for i in range(25):
        d = server.upload(user, png_bytes(6, 6, (i * 10, 0, 0))).json()
        created.append(d["id"])
        # created_at has millisecond resolution: the next upload starts in a later
        # millisecond, so "newest first" has one answer (ties would order by id)
        after = parse_time(d["created_at"]).timestamp() + 0.001
        wait_until(lambda: time.time() >= after, 1, "the next millisecond", interval=0.001)
    expected = list(reversed(created))

    p1 = server.gallery(user, page=1, limit=20)
    p2 = server.gallery(user, page=2, limit=20)
    p3 = server.gallery(user, page=3, limit=20)
    for p, n, page in ((p1, 20, 1), (p2, 5, 2), (p3, 0, 3)):
        assert set(p) == {"success", "data", "count", "page", "limit"}, p.keys()
        assert p["success"] is True
        assert p["count"] == 25
        assert p["page"] == page and p["limit"] == 20
        assert len(p["data"]) == n
        for d in p["data"]:
            check_drawing_shape(d)
            assert d["user_id"] == user
    ids = [d["id"] for d in p1["data"] + p2["data"]]
    assert len(set(ids)) == 25
    assert ids == expected, "gallery is not newest first"
    times = [d["created_at"] for d in p1["data"] + p2["data"]]
    assert times == sorted(times, reverse=True)

    # Other page sizes slice the same order.
    p = server.gallery(user, page=3, limit=7)
    assert [d["id"] for d in p["data"]] == expected[14:21]
    p = server.gallery(user, page=1, limit=100)
    assert [d["id"] for d in p["data"]] == expected and p["limit"] == 100
    p = server.gallery(user, page=25, limit=1)
    assert [d["id"] for d in p["data"]] == [created[0]]

    # Defaults: page 1, limit 20.
    p = server.gallery(user)
    assert p["page"] == 1 and p["limit"] == 20 and p["count"] == 25
    assert [d["id"] for d in p["data"]] == expected[:20]
    # Each item equals GET by id.
    one = server.get("/api/drawings/" + expected[0], user).json()
    assert p["data"][0] == one


def test_gallery_empty(server):
    user = new_user()
    assert server.gallery(user) == {"success": True, "data": [], "count": 0, "page": 1, "limit": 20}


GE_MSG = "Input should be greater than or equal to 1"
LE_MSG = "Input should be less than or equal to 100"
INT_MSG = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize("query,loc,typ,msg,inp,ctx", [
    ("page=0", "page", "greater_than_equal", GE_MSG, "0", {"ge": 1}),
    ("page=-3", "page", "greater_than_equal", GE_MSG, "-3", {"ge": 1}),
    ("limit=0", "limit", "greater_than_equal", GE_MSG, "0", {"ge": 1}),
    ("limit=101", "limit", "less_than_equal", LE_MSG, "101", {"le": 100}),
    ("page=abc", "page", "int_parsing", INT_MSG, "abc", None),
    ("page=1.5", "page", "int_parsing", None, "1.5", None),
    ("limit=ten", "limit", "int_parsing", INT_MSG, "ten", None),
    ("page=1&limit=1e3", "limit", "int_parsing", None, "1e3", None),
])
def test_gallery_bad_params(server, query, loc, typ, msg, inp, ctx):
    user = new_user()
    e = entries(server.get("/api/drawings/gallery?" + query, user))
    assert len(e) == 1, e
    assert e[0]["loc"] == ["query", loc]
    assert e[0]["type"] == typ
    if msg is not None:
        assert e[0]["msg"] == msg
    assert e[0].get("input") == inp
    if ctx is not None:
        assert e[0].get("ctx") == ctx


def test_gallery_both_params_bad(server):
    user = new_user()
    e = entries(server.get("/api/drawings/gallery?page=0&limit=500", user))
    got = {(tuple(x["loc"]), x["type"]) for x in e}
    assert got == {(("query", "page"), "greater_than_equal"), (("query", "limit"), "less_than_equal")}
    assert len(e) == 2


def test_gallery_huge_page_is_not_a_server_error(server):
    user = new_user()
    server.upload(user, png_bytes(4, 4))
    # SPEC §5: the only rule for page is page >= 1, so a huge page is a valid page past
    # the end (FastAPI's int takes any size): 200 with no data, the real count
    for q in ("page=99999999999999999999", "page=9223372036854775807", "page=4294967297&limit=100"):
        r = server.get("/api/drawings/gallery?" + q, user)
        assert r.status_code == 200, (q, r.status_code, r.text)
        assert r.json()["data"] == [] and r.json()["count"] == 1


# --------------------------------------------------------------------------- delete

def test_delete_removes_row_and_files(server):
    user = new_user()
    keep = server.upload(user, png_bytes(8, 8)).json()
    d = server.upload(user, png_bytes(8, 8)).json()
    orig, thumb = server.media_path(d["uploaded_image_url"]), server.media_path(d["thumbnail_url"])
    assert orig.is_file() and thumb.is_file()

    r = server.delete("/api/drawings/" + d["id"], user)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "message": "Drawing deleted"}
    assert not orig.exists() and not thumb.exists()
    assert server.get("/api/drawings/" + d["id"], user).json() == NOT_FOUND
    assert server.http.get(d["uploaded_image_url"], timeout=10).status_code == 404

    r = server.delete("/api/drawings/" + d["id"], user)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND

    g = server.gallery(user)
    assert g["count"] == 1 and [x["id"] for x in g["data"]] == [keep["id"]]
    assert server.media_path(keep["uploaded_image_url"]).is_file()


def test_delete_other_users_drawing_is_404(server):
    a, b = new_user(), new_user()
    d = server.upload(a, png_bytes(8, 8)).json()
    r = server.delete("/api/drawings/" + d["id"], b)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    assert server.get("/api/drawings/" + d["id"], a).status_code == 200
    assert server.media_path(d["uploaded_image_url"]).is_file()
    assert server.media_path(d["thumbnail_url"]).is_file()


def test_delete_bad_uuid_is_422(server):
    user = new_user()
    e = entries(server.delete("/api/drawings/nope", user))
    assert [(x["loc"], x["type"]) for x in e] == [(["path", "drawing_id"], "uuid_parsing")]


def test_delete_unknown_is_404(server):
    r = server.delete("/api/drawings/" + str(uuid.uuid4()), new_user())
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


# --------------------------------------------------------------------------- stats

def test_stats_counts_own_drawings_only(server):
    a, b = new_user(), new_user()
    assert server.stats(a) == {"success": True, "total_drawings": 0, "edited_drawings": 0,
                               "tutorial_drawings": 0}
    tid = server.add_tutorial("Stats tutorial")
    server.upload(a, png_bytes(8, 8))
    server.upload(a, png_bytes(8, 8), tutorial_id=tid)
    d3 = server.upload(a, png_bytes(8, 8)).json()
    server.upload(b, png_bytes(8, 8), tutorial_id=tid)
    assert server.stats(a) == {"success": True, "total_drawings": 3, "edited_drawings": 0,
                               "tutorial_drawings": 1}
    assert server.stats(b) == {"success": True, "total_drawings": 1, "edited_drawings": 0,
                               "tutorial_drawings": 1}
    assert server.delete("/api/drawings/" + d3["id"], a).status_code == 200
    assert server.stats(a)["total_drawings"] == 2


# --------------------------------------------------------------------------- ownership

def test_ownership_everywhere(server):
    a, b = new_user(), new_user()
    da = [server.upload(a, png_bytes(8, 8)).json() for _ in range(3)]
    db = server.upload(b, png_bytes(8, 8)).json()
    ga = server.gallery(a, limit=100)
    gb = server.gallery(b, limit=100)
    assert ga["count"] == 3 and {d["id"] for d in ga["data"]} == {d["id"] for d in da}
    assert gb["count"] == 1 and [d["id"] for d in gb["data"]] == [db["id"]]
    for d in da:
        assert server.get("/api/drawings/" + d["id"], b).status_code == 404
        assert server.delete("/api/drawings/" + d["id"], b).status_code == 404
    assert server.gallery(a)["count"] == 3
    assert server.stats(b)["total_drawings"] == 1
    assert all(d["user_id"] == a for d in server.gallery(a)["data"])


def test_concurrent_deletes_of_one_drawing(server):
    import concurrent.futures
    user = new_user()
    d = server.upload(user, png_bytes(8, 8)).json()
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        codes = sorted(ex.map(lambda _: server.delete("/api/drawings/" + d["id"], user).status_code,
                              range(6)))
    assert codes == [200] + [404] * 5, codes
    assert server.gallery(user)["count"] == 0
    assert server.media_files(user) == set()
