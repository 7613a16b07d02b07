"""Gallery filters, search and conditional GET (SPEC section 11): each filter and their
combinations with the count of what matches, both sorts, search (prefix, every word,
case, Unicode, digits, hostile engine syntax, limits), the 422s in pydantic's shapes,
and ETag / If-None-Match / 304 on the gallery and on a drawing."""
import datetime as dt
import urllib.parse

import pytest

from helpers import new_user, png_bytes, validation_entries


def edit_new(server, user, prompt, tutorial_id=None):
    form = {"prompt": prompt}
    if tutorial_id:
        form["tutorial_id"] = tutorial_id
    r = server.request("POST", "/api/edit-image", user,
                       files={"file": ("d.png", png_bytes(32, 24), "image/png")}, data=form)
    assert r.status_code == 200, r.text
    return r.json()["drawing_id"]


def edit_again(server, user, drawing_id, prompt):
    r = server.request("POST", f"/api/drawings/{drawing_id}/edits", user,
                       files={"prompt": (None, prompt)})
    assert r.status_code == 200, r.text


def upload(server, user, tutorial_id=None):
    return server.upload(user, png_bytes(32, 24), tutorial_id=tutorial_id).json()["id"]


def ids(server, user, **params):
    body = server.gallery(user, **params)
    return [d["id"] for d in body["data"]], body["count"]


@pytest.fixture(scope="module")
def fixture(server):
    """One user's gallery, oldest first:
    0 upload, tutorial T          3 "add a sepia tone", tutorial T
    1 "make it colorful"          4 upload + edit "sepia Café au lait", + edit "Straße 42x"
    2 upload (never edited)       5 "make it black and white: don't_stop foo-bar 3.14"
    """
    user = new_user()
    tut = server.add_tutorial("Filters")
    d = [None] * 6
    d[0] = upload(server, user, tut)
    d[1] = edit_new(server, user, "make it colorful")
    d[2] = upload(server, user)
    d[3] = edit_new(server, user, "add a sepia tone", tut)
    d[4] = upload(server, user)
    edit_again(server, user, d[4], "sepia Café au lait")
    edit_again(server, user, d[4], "Straße sepia 42x")
    d[5] = edit_new(server, user, "make it black and white: don't_stop foo-bar 3.14")
    times = [server.get(f"/api/drawings/{i}", user).json()["created_at"] for i in d]
    assert times == sorted(times) and len(set(times)) == 6, times
    # another user with the same words never shows
    other = new_user()
    edit_new(server, other, "make it colorful sepia", tut)
    return {"user": user, "tut": tut, "d": d, "times": times}


def want(fx, *idx):
    return [fx["d"][i] for i in idx]


# ------------------------------------------------------------------ filters

def test_no_filter_and_sort(server, fixture):
    u = fixture["user"]
    assert ids(server, u) == (want(fixture, 5, 4, 3, 2, 1, 0), 6)
    assert ids(server, u, sort="newest") == (want(fixture, 5, 4, 3, 2, 1, 0), 6)
    assert ids(server, u, sort="oldest") == (want(fixture, 0, 1, 2, 3, 4, 5), 6)
    assert ids(server, u, sort="oldest", page=2, limit=4) == (want(fixture, 4, 5), 6)


def test_tutorial_filter(server, fixture):
    u, tut = fixture["user"], fixture["tut"]
    assert ids(server, u, tutorial_id=tut) == (want(fixture, 3, 0), 2)
    assert ids(server, u, tutorial_id=tut.upper()) == (want(fixture, 3, 0), 2)
    assert ids(server, u, tutorial_id=tut, sort="oldest") == (want(fixture, 0, 3), 2)
    assert ids(server, u, tutorial_id=tut, edited="true") == (want(fixture, 3), 1)
    assert ids(server, u, tutorial_id=tut, edited="false") == (want(fixture, 0), 1)
    # an unknown tutorial: an empty page, not a 404
    assert ids(server, u, tutorial_id="00000000-0000-4000-8000-000000000000") == ([], 0)


def test_edited_filter(server, fixture):
    u = fixture["user"]
    for v in ("true", "TRUE", "1", "yes", "on", "t", "Y"):
        assert ids(server, u, edited=v) == (want(fixture, 5, 4, 3, 1), 4), v
    for v in ("false", "0", "no", "OFF", "f", "n"):
        assert ids(server, u, edited=v) == (want(fixture, 2, 0), 2), v
    assert ids(server, u, edited="true", limit=2, page=2) == (want(fixture, 3, 1), 4)


def test_date_filter(server, fixture):
    u, t = fixture["user"], fixture["times"]
    # from <= created_at < to, with the API's own times
    assert ids(server, u, **{"from": t[1], "to": t[4]}) == (want(fixture, 3, 2, 1), 3)
    assert ids(server, u, **{"from": t[5]}) == (want(fixture, 5), 1)
    assert ids(server, u, to=t[0]) == ([], 0)
    # from after to: nothing, as two independent bounds give
    assert ids(server, u, **{"from": t[4], "to": t[1]}) == ([], 0)
    # a date is UTC midnight; an offset moves the moment
    day = t[0][:10]
    nxt = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    prv = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    assert ids(server, u, **{"from": prv, "to": "9999-12-31"})[1] == 6
    assert ids(server, u, to=prv)[1] == 0
    assert ids(server, u, **{"from": nxt})[1] == 0
    t1 = dt.datetime.fromisoformat(t[1].replace("Z", "+00:00"))
    plus2 = t1.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert plus2.endswith("+02:00")
    assert ids(server, u, **{"from": plus2, "to": t[2]}) == (want(fixture, 1), 1)
    # combined with everything else
    assert ids(server, u, **{"from": t[1], "edited": "true", "sort": "oldest",
                             "q": "sepia"}) == (want(fixture, 3, 4), 2)


# ------------------------------------------------------------------ search

SEARCH = [
    ("colo", [1]),                    # a prefix
    ("colorful", [1]),
    ("sepia tone", [3]),              # every word
    ("sepia", [4, 3]),
    ("SEPIA TONE", [3]),              # case
    ("tone sepia", [3]),
    ("sepia 42", [4]),                # words from two edits of one drawing
    ("42x", [4]), ("4", [4]),         # digits
    ("café", [4]), ("CAFÉ", [4]), ("caf", [4]), ("cafe", []),
    ("straße", [4]), ("STRASSE", [4]), ("strasse", [4]),
    ("don t stop", [5]), ("stop", [5]), ("foo bar", [5]), ("3 14", [5]),
    ("make it", [5, 1]),
    ("sepia zebra", []), ("zzz", []),
    # engine syntax is only words here
    ('"sepia"', [4, 3]), ("sepia*", [4, 3]), ("sepia OR colorful", []),
    ("NEAR(sepia tone)", []), ("sepia & !tone", [3]), ("sepia:*", [4, 3]),
    ("(sepia) | colo", []), ("sepia -tone", [3]), ("sepia' OR '1'='1", []),
    ("tone)) ; DROP TABLE drawings; --", []),
]


@pytest.mark.parametrize("q,expected", SEARCH, ids=[q for q, _ in SEARCH])
def test_search(server, fixture, q, expected):
    got = ids(server, fixture["user"], q=q)
    assert got == (want(fixture, *expected), len(expected))


def test_search_with_filters(server, fixture):
    u, tut = fixture["user"], fixture["tut"]
    assert ids(server, u, q="sepia", tutorial_id=tut) == (want(fixture, 3), 1)
    assert ids(server, u, q="sepia", sort="oldest") == (want(fixture, 3, 4), 2)
    assert ids(server, u, q="sepia", edited="false") == ([], 0)
    assert ids(server, u, q="sepia", limit=1, page=2) == (want(fixture, 3), 2)
    assert ids(server, u, q="a" * 200) == ([], 0)  # 200 characters: allowed



def test_search_count_follows_every_change(server):
    """A search's count is made once a gallery version and kept: every change of the
    user's gallery (an edit, a new drawing, an edit or a drawing deleted) gives the
    next answer the new count, on every page and either sort."""
    u, tut = new_user(), server.add_tutorial("Counted")

    def count(**params):
        got, n = ids(server, u, q="gold", **params)
        return n, got

    assert count() == (0, [])
    a = edit_new(server, u, "gold frame")
    assert count() == (1, [a])
    b = edit_new(server, u, "golden light", tut)
    assert count() == (2, [b, a])
    assert count(page=2, limit=1) == (2, [a])  # the same count, another page
    assert count(sort="oldest") == (2, [a, b])
    assert count(tutorial_id=tut) == (1, [b])  # another filter: its own count
    c = upload(server, u)
    assert count() == (2, [b, a])
    edit_again(server, u, c, "a gold frame")
    assert count() == (3, [c, b, a])
    assert count(page=3, limit=1) == (3, [a])
    assert server.delete(f"/api/drawings/{b}", u).status_code == 200
    assert count() == (2, [c, a])
    assert count(tutorial_id=tut) == (0, [])
    # another user's same search keeps its own count
    v = new_user()
    vd = edit_new(server, v, "gold frame")
    assert ids(server, v, q="gold") == ([vd], 1)
    assert count() == (2, [c, a])
    assert server.delete(f"/api/drawings/{c}", u).status_code == 200
    assert count() == (1, [a])


# ------------------------------------------------------------------ validation

def bad(server, user, **params):
    r = server.get("/api/drawings/gallery", user, params=params)
    assert r.status_code == 422, f"{r.status_code} {r.text[:300]}"
    return validation_entries(r.json())


def test_bad_values(server):
    u = new_user()
    [e] = bad(server, u, tutorial_id="nope")
    assert e["loc"] == ["query", "tutorial_id"] and e["type"] == "uuid_parsing"
    [e] = bad(server, u, edited="maybe")
    assert e == {"type": "bool_parsing", "loc": ["query", "edited"],
                 "msg": "Input should be a valid boolean, unable to interpret input",
                 "input": "maybe"}
    [e] = bad(server, u, sort="new")
    assert e == {"type": "literal_error", "loc": ["query", "sort"],
                 "msg": "Input should be 'newest' or 'oldest'", "input": "new",
                 "ctx": {"expected": "'newest' or 'oldest'"}}
    [e] = bad(server, u, **{"from": "yesterday"})
    assert e["loc"] == ["query", "from"] and e["type"] == "datetime_from_date_parsing"
    assert e["msg"].startswith("Input should be a valid datetime or date, ")
    [e] = bad(server, u, to="2025-02-30")
    assert e["loc"] == ["query", "to"] and e["type"] == "datetime_from_date_parsing"
    [e] = bad(server, u, to="2025-01-25T10:00:00")
    assert e == {"type": "timezone_aware", "loc": ["query", "to"],
                 "msg": "Input should have timezone info", "input": "2025-01-25T10:00:00"}
    [e] = bad(server, u, q="")
    assert e["type"] == "string_too_short" and e["loc"] == ["query", "q"]
    [e] = bad(server, u, q="a" * 201)
    assert e["type"] == "string_too_long" and e["ctx"] == {"max_length": 200}
    [e] = bad(server, u, q="x" * 10000)
    assert e["type"] == "string_too_long" and "input" not in e
    [e] = bad(server, u, q="!!! ... ***")
    assert e["type"] == "value_error" and e["loc"] == ["query", "q"]
    # every bad parameter at once, in parameter order
    es = bad(server, u, page=0, tutorial_id="x", edited="2", sort="up", q="", to="no")
    assert [e["loc"][1] for e in es] == ["page", "tutorial_id", "to", "q", "edited", "sort"]


def test_q_is_never_syntax_raw(server, fixture):
    # bytes that are not UTF-8, NULs and engine operators: words or a 422, never a 500
    u = fixture["user"]
    for raw in ("%FF%FEsepia", "sepia%00tone", "%22%2A%22", "NEAR%2F2", "col%C3", "%E2%80%AEsepia"):
        r = server.get(f"/api/drawings/gallery?q={raw}", u)
        assert r.status_code in (200, 422), (raw, r.status_code, r.text)


# ------------------------------------------------------------------ conditional GET

def test_gallery_etag_and_304(server):
    u = new_user()
    d0 = upload(server, u)
    r = server.get("/api/drawings/gallery", u)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 8
    assert r.headers["Cache-Control"] == "private, no-cache"
    # unchanged: the same tag; revalidation is a 304 without a body
    assert server.get("/api/drawings/gallery", u).headers["ETag"] == etag
    for inm in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        r = server.get("/api/drawings/gallery", u, headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b""
        assert r.headers["ETag"] == etag
        assert r.headers["Cache-Control"] == "private, no-cache"
    r = server.get("/api/drawings/gallery", u, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.headers["ETag"] == etag and r.json()["count"] == 1
    # each query has its own tag; an equivalent spelling shares it
    tags = {server.get(f"/api/drawings/gallery?{qs}", u).headers["ETag"]
            for qs in ("", "page=2", "limit=5", "edited=true", "sort=oldest", "q=hat")}
    assert len(tags) == 6
    assert (server.get("/api/drawings/gallery?q=HAT", u).headers["ETag"] ==
            server.get("/api/drawings/gallery?q=hat", u).headers["ETag"])
    # another user's tag means nothing here
    other = new_user()
    r = server.get("/api/drawings/gallery", other, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag

    def changed(before):
        r = server.get("/api/drawings/gallery", u, headers={"If-None-Match": before})
        assert r.status_code == 200, "the body changed: the old tag must not match"
        assert r.headers["ETag"] != before
        return r.headers["ETag"]

    d1 = upload(server, u)
    etag = changed(etag)
    edit_again(server, u, d1, "make it colorful")
    etag = changed(etag)
    assert server.delete(f"/api/drawings/{d0}", u).status_code == 200
    etag = changed(etag)
    # a bad request is a 422 whatever If-None-Match says
    r = server.get("/api/drawings/gallery?limit=0", u, headers={"If-None-Match": etag})
    assert r.status_code == 422 and "ETag" not in r.headers


def test_drawing_etag_and_304(server):
    u = new_user()
    d = upload(server, u)
    r = server.get(f"/api/drawings/{d}", u)
    assert r.status_code == 200
    etag = r.headers["ETag"]
    assert r.headers["Cache-Control"] == "private, no-cache"
    r = server.get(f"/api/drawings/{d}", u, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == etag
    r = server.get(f"/api/drawings/{d}", u, headers={"If-None-Match": "*"})
    assert r.status_code == 304 and r.content == b""
    # the gallery's tag is not the drawing's
    g = server.get("/api/drawings/gallery", u).headers["ETag"]
    assert g != etag
    assert server.get(f"/api/drawings/{d}", u, headers={"If-None-Match": g}).status_code == 200
    # an edit changes it
    edit_again(server, u, d, "add a sepia tone")
    r = server.get(f"/api/drawings/{d}", u, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert len(r.json()["edits"]) == 1
    etag = r.headers["ETag"]
    # someone else, or a missing drawing, is a 404 whatever the header says
    other = new_user()
    for who, inm in ((other, etag), (other, "*"), (u, "*")):
        did = d if who == other else "00000000-0000-4000-8000-000000000000"
        r = server.get(f"/api/drawings/{did}", who, headers={"If-None-Match": inm})
        assert r.status_code == 404 and r.json() == {"detail": "Drawing not found"}
        assert "ETag" not in r.headers
    # deleted: the old tag no longer answers 304
    assert server.delete(f"/api/drawings/{d}", u).status_code == 200
    r = server.get(f"/api/drawings/{d}", u, headers={"If-None-Match": etag})
    assert r.status_code == 404


def test_304_raw_has_no_body(server):
    """On the wire: 304, the validators, no body bytes and no Content-Length of a body."""
    from helpers import raw_get
    u = new_user()
    upload(server, u)
    etag = server.get("/api/drawings/gallery", u).headers["ETag"]
    hdrs = dict(server.auth(u))
    hdrs["If-None-Match"] = etag
    r = raw_get(server.port, "/api/drawings/gallery", headers=hdrs)
    assert r.status == 304, r
    assert r.body == b""
