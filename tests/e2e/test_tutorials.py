"""The tutorial catalogue: operator CLI and GET /api/tutorials."""
import uuid

from helpers import UUID_RE, assert_recent, new_user, png_bytes


def listing(server):
    r = server.get("/api/tutorials", new_user())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "data"} and body["success"] is True
    for t in body["data"]:
        assert {"id", "title", "created_at"} <= set(t), t
        assert UUID_RE.match(t["id"]), t
        assert_recent(t["created_at"])
    return body["data"]


def test_empty_catalogue(fresh_server):
    r = fresh_server.get("/api/tutorials", new_user())
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": []}


def test_needs_a_token(fresh_server):
    r = fresh_server.get("/api/tutorials")
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}


def test_add_list_in_creation_order(fresh_server):
    s = fresh_server
    titles = ["Cats", "Dogs", "A house", "Zebra"]
    ids = [s.add_tutorial(t) for t in titles]
    for tid in ids:
        assert UUID_RE.match(tid), tid
    assert len(set(ids)) == 4
    data = listing(s)
    assert [(t["id"], t["title"]) for t in data] == list(zip(ids, titles))
    times = [t["created_at"] for t in data]
    assert times == sorted(times)

    out = s.cli("tutorial", "list")
    assert out.returncode == 0, out.stderr
    for tid, title in zip(ids, titles):
        line = [ln for ln in out.stdout.splitlines() if tid in ln]
        assert line and title in line[0], out.stdout


def test_add_with_explicit_id(fresh_server):
    s = fresh_server
    tid = str(uuid.uuid4())
    got = s.add_tutorial("Explicit", tid)
    assert got == tid
    assert [(t["id"], t["title"]) for t in listing(s)] == [(tid, "Explicit")]
    # The same id again never yields two catalogue entries.
    again = s.cli("tutorial", "add", "--title", "Other", "--id", tid)
    assert again.returncode >= 0, "CLI crashed"
    assert [t["id"] for t in listing(s)].count(tid) == 1


def test_bad_tutorial_cli_arguments(fresh_server):
    s = fresh_server
    r = s.cli("tutorial", "add", "--title", "Bad", "--id", "not-a-uuid")
    assert r.returncode > 0, (r.returncode, r.stdout, r.stderr)
    r = s.cli("tutorial", "add")
    assert r.returncode > 0, (r.returncode, r.stdout, r.stderr)
    assert listing(s) == []


def test_unicode_and_quotes_round_trip(fresh_server):
    s = fresh_server
    title = 'Chat \U0001F431 «dessin» "quoted" \\ back'
    tid = s.add_tutorial(title)
    data = listing(s)
    assert data == [{**data[0], "id": tid, "title": title}]


def test_drawing_can_point_at_a_tutorial(fresh_server):
    s = fresh_server
    user = new_user()
    tid = s.add_tutorial("Rocket")
    d = s.upload(user, png_bytes(8, 8), tutorial_id=tid).json()
    assert d["tutorial_id"] == tid
    g = s.gallery(user)
    assert g["data"][0]["tutorial_id"] == tid
    assert s.stats(user)["tutorial_drawings"] == 1
