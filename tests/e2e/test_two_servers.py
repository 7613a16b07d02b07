"""Several stateless servers on one database and one bucket (SPEC §10): what one
writes the other serves byte for byte, a delete through one is gone on both, and
a server killed while it holds a background job leaves the job to the other.
Runs on SQLite (one database file shared through DATA_DIR) and, in the PostgreSQL
pass, on PostgreSQL (conftest gives servers sharing a DATA_DIR one database)."""
from __future__ import annotations

import signal

from helpers import new_user, noisy_png, png_bytes
from test_jobs import FOREVER, wait_for


def pair(s3, server_factory, tmp_path, **env):
    shared = tmp_path / "shared-data"
    shared.mkdir(exist_ok=True)
    e = s3.env(DATA_DIR=str(shared), IMAGE_EDITOR="local", **env)
    return server_factory(env=e), server_factory(env=e)


def test_an_edit_through_one_is_the_same_through_the_other(s3, server_factory, tmp_path):
    a, b = pair(s3, server_factory, tmp_path)
    user = new_user()
    r = a.request("POST", "/api/edit-image", user,
                  files={"file": ("d.png", noisy_png(40, 40, seed=9), "image/png")},
                  data={"prompt": "make it black and white"})
    assert r.status_code == 200, r.text
    did = r.json()["drawing_id"]
    again = b.request("POST", f"/api/drawings/{did}/edits", user,
                      files={"prompt": (None, "invert the colors")})
    assert again.status_code == 200, again.text
    for path in (f"/api/drawings/{did}", "/api/drawings/gallery?page=1&limit=20",
                 "/api/drawings/stats/summary"):
        ra, rb = a.get(path, user), b.get(path, user)
        assert ra.status_code == rb.status_code == 200
        assert ra.content == rb.content, path  # identical JSON, byte for byte
    d = a.get(f"/api/drawings/{did}", user).json()
    assert [e["prompt"] for e in d["edits"]] == ["make it black and white", "invert the colors"]
    # the objects both servers name are in the bucket
    keys = set(s3.keys())
    assert s3.key_of(d["uploaded_image_url"]) in keys
    assert all(s3.key_of(u) in keys for u in d["edited_images_urls"])

    # a delete through the other server is gone on both, objects too
    assert b.delete(f"/api/drawings/{did}", user).status_code == 200
    assert a.get(f"/api/drawings/{did}", user).status_code == 404
    assert b.get(f"/api/drawings/{did}", user).status_code == 404
    assert a.gallery(user)["count"] == b.gallery(user)["count"] == 0
    assert s3.keys(f"users/{user}/") == []


def test_a_killed_server_leaves_its_job_to_the_other(s3, server_factory, tmp_path):
    shared = tmp_path / "shared-data"
    shared.mkdir()
    env = s3.env(DATA_DIR=str(shared), JOB_LEASE_SECONDS="2")
    a = server_factory(env=env)
    user = new_user()
    d = a.upload(user, png_bytes(8, 8)).json()
    keys = {s3.key_of(d["uploaded_image_url"]), s3.key_of(d["thumbnail_url"])}

    # the delete fails: its objects are queued; then A's worker takes the job and its
    # DELETE hangs in the proxy: A holds the lease when it is killed
    s3.proxy.fail_next(FOREVER, 503, methods=("DELETE",))
    assert a.delete(f"/api/drawings/{d['id']}", user).status_code == 200
    # A's worker tries the job once (refused too) and schedules it again in 2 s
    wait_for(lambda: "jobs: delete" in a.log_text() and "failed (" in a.log_text(), 15,
             "A's worker to try the job")
    s3.proxy.clear()
    s3.proxy.hold(("DELETE",))
    # A takes the job again (its retry is due 2 s after the failure) and waits on the
    # DELETE the proxy holds: a DELETE seen but not answered
    wait_for(lambda: any(x.status == 0 for x in s3.proxy.seen("DELETE")), 15,
             "A's DELETE to be held in the proxy")
    a.proc.send_signal(signal.SIGKILL)
    a.returncode = a.proc.wait(timeout=10)
    assert "done" not in a.log_text()
    # the dead server's held DELETE may still reach s3rver once released; what matters
    # is that the job, never marked done, is run by B
    s3.proxy.release()

    b = server_factory(env=env)
    wait_for(lambda: not (set(s3.keys()) & keys) and
             all(f"jobs: delete {k} done" in b.log_text() for k in keys), 30,
             "B to take over the job after A's lease ran out")


def test_a_search_count_kept_by_one_follows_a_change_through_the_other(s3, server_factory,
                                                                       tmp_path):
    a, b = pair(s3, server_factory, tmp_path)
    user = new_user()

    def edit(server, prompt):
        r = server.request("POST", "/api/edit-image", user,
                           files={"file": ("d.png", png_bytes(16, 16), "image/png")},
                           data={"prompt": prompt})
        assert r.status_code == 200, r.text
        return r.json()["drawing_id"]

    first = edit(a, "add a sepia tone")
    assert a.gallery(user, q="sepia")["count"] == 1  # a keeps the count
    second = edit(b, "sepia again")
    for s in (a, b):
        g = s.gallery(user, q="sepia")
        assert g["count"] == 2 and [d["id"] for d in g["data"]] == [second, first]
    assert b.delete(f"/api/drawings/{second}", user).status_code == 200
    for s in (a, b):
        assert s.gallery(user, q="sepia")["count"] == 1


def test_a_page_kept_by_one_follows_a_change_through_the_other(s3, server_factory, tmp_path):
    """Each server keeps the bodies it wrote by their ETag (BODY_CACHE): the tag holds
    the user's gallery version, which a change through the other server moves, so the
    kept page and drawing are never answered after it."""
    a, b = pair(s3, server_factory, tmp_path)
    user = new_user()
    did = b.upload(user, png_bytes(16, 16)).json()["id"]
    first = a.get("/api/drawings/gallery", user)
    assert a.get("/api/drawings/gallery", user).content == first.content  # kept: the same bytes
    one = a.get(f"/api/drawings/{did}", user)
    assert one.status_code == 200 and one.json()["edited_images_urls"] == []
    r = b.request("POST", f"/api/drawings/{did}/edits", user,
                  files={"prompt": (None, "make it black and white")})
    assert r.status_code == 200, r.text
    again = a.get(f"/api/drawings/{did}", user)
    assert again.status_code == 200 and len(again.json()["edited_images_urls"]) == 1
    assert again.headers["ETag"] != one.headers["ETag"]
    page = a.get("/api/drawings/gallery", user)
    assert page.content != first.content
    assert page.json()["data"][0]["edited_images_urls"] == again.json()["edited_images_urls"]
    second = b.upload(user, png_bytes(16, 16)).json()["id"]
    g = a.gallery(user)
    assert g["count"] == 2 and [d["id"] for d in g["data"]] == [second, did]
    assert b.delete(f"/api/drawings/{did}", user).status_code == 200
    assert a.get(f"/api/drawings/{did}", user).status_code == 404
    assert [d["id"] for d in a.gallery(user)["data"]] == [second]
