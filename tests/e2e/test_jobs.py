"""The durable job queue end to end: a deletion that fails (S3 DELETEs refused by the
verifying proxy) is queued, the drawing is gone at once, and the server's worker
deletes the objects once storage works again; two servers sharing one database run a
queued job exactly once. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL.
"""
from __future__ import annotations

from helpers import new_user, png_bytes, wait_until

FOREVER = 10 ** 6


def wait_for(cond, timeout: float, what: str):
    return wait_until(cond, timeout=timeout, what=what, interval=0.1)


def injected_deletes(s3) -> int:
    return len([x for x in s3.proxy.seen("DELETE") if x.injected])


def upload_keys(srv, s3, user, color) -> tuple[str, set[str]]:
    d = srv.upload(user, png_bytes(8, 8, color=color)).json()
    return d["id"], {s3.key_of(d["uploaded_image_url"]), s3.key_of(d["thumbnail_url"])}


def test_failed_delete_is_queued_and_retried(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    _, kept = upload_keys(srv, s3, user, (0, 255, 0))
    did, gone = upload_keys(srv, s3, user, (0, 0, 255))
    assert set(s3.keys()) == gone | kept

    s3.proxy.fail_next(FOREVER, 503, methods=("DELETE",))
    r = srv.delete("/api/drawings/" + did, user)
    assert r.status_code == 200, r.text
    assert srv.get("/api/drawings/" + did, user).status_code == 404
    assert set(s3.keys()) == gone | kept  # storage refused: the objects are still there
    # the request's own attempts (3 per object), then at least one run by the worker
    wait_for(lambda: injected_deletes(s3) >= 7, 20, "the worker to retry a deletion")
    assert set(s3.keys()) == gone | kept

    s3.proxy.clear()  # storage works again
    wait_for(lambda: set(s3.keys()) == kept, 30, "the queued deletions")
    assert {x.key for x in s3.proxy.seen("DELETE") if not x.injected} == gone
    assert "queued for retry" in srv.log_text()


def test_two_servers_run_a_queued_job_exactly_once(s3, server_factory, tmp_path):
    shared = tmp_path / "shared-data"
    shared.mkdir()
    env = s3.env(DATA_DIR=str(shared))
    a = server_factory(env=env)
    b = server_factory(env=env)
    user = new_user()
    ids, gone = [], set()
    for i in range(4):
        did, keys = upload_keys(a if i % 2 else b, s3, user, (i * 40, 10, 10))
        ids.append(did)
        gone |= keys
    assert set(s3.keys()) == gone
    # both servers see the same rows
    assert b.get("/api/drawings/" + ids[1], user).status_code == 200

    s3.proxy.fail_next(FOREVER, 503, methods=("DELETE",))
    for i, did in enumerate(ids):
        r = (a if i % 2 else b).delete("/api/drawings/" + did, user)
        assert r.status_code == 200, r.text
    for did in ids:
        assert a.get("/api/drawings/" + did, user).status_code == 404
        assert b.get("/api/drawings/" + did, user).status_code == 404
    wait_for(lambda: injected_deletes(s3) >= 3 * len(gone) + 1, 20, "a worker to retry")

    s3.proxy.clear()
    wait_for(lambda: not s3.keys(), 30, "the queued deletions")
    wait_for(lambda: all(f"jobs: delete {k} done" in a.log_text() + b.log_text() for k in gone),
             10, "every job's \"done\" line")
    # A job done is a row deleted: once the queue is empty no worker can claim any of
    # them again. Stopping both servers joins their workers, so a run begun before
    # that (a double claim) has finished and logged its line before the counts below.
    wait_for(lambda: a.db_scalar("SELECT count(*) FROM jobs") == "0", 10,
             "the job queue to be empty")
    a.stop_and_check()
    b.stop_and_check()
    # a DELETE that s3rver itself answered 5xx is retried by the backend within the same
    # run; what must happen once per key is the run: one successful DELETE, one "done"
    ok = [x.key for x in s3.proxy.seen("DELETE")
          if not x.injected and x.status is not None and 200 <= x.status < 300]
    assert sorted(ok) == sorted(gone), "each queued deletion must run exactly once"
    logs = a.log_text() + b.log_text()
    for key in gone:
        assert logs.count(f"jobs: delete {key} done") == 1, key
