"""RATE_LIMIT_EDITS (SPEC §14): edits per user per minute over the three edit routes,
counted in the database (servers sharing it share the limit); beyond it 429 with
Retry-After, before the body is read and before anything is stored; RateLimit-*
headers on every edit answer; 0 turns it off. Runs on SQLite and PostgreSQL."""
import time

from helpers import new_user, png_bytes, raw_request, wait_until


def edit(srv, user, prompt="make it black and white", **kw):
    return srv.request("POST", "/api/edit-image", user,
                       files={"file": ("d.png", png_bytes(8, 8), "image/png")},
                       data={"prompt": prompt}, **kw)


def early_in_a_minute():
    """The limit's window is the wall-clock minute: start where a test cannot cross it."""
    wait_until(lambda: time.time() % 60 < 40, timeout=25, what="the start of a minute")


def stored(srv, user):
    return (srv.db_scalar(f"SELECT count(*) FROM drawings WHERE user_id = '{user}'"),
            srv.media_files(user))


def test_the_limit_answers_429_with_headers_and_stores_nothing(server_factory):
    s = server_factory(env={"RATE_LIMIT_EDITS": "3"})
    user = new_user()
    early_in_a_minute()
    for left in (2, 1, 0):
        r = edit(s, user)
        assert r.status_code == 200, r.text
        did = r.json()["drawing_id"]
        assert r.headers["RateLimit-Limit"] == "3"
        assert r.headers["RateLimit-Remaining"] == str(left)
        assert 1 <= int(r.headers["RateLimit-Reset"]) <= 60
    before = stored(s, user)
    r = edit(s, user)
    assert r.status_code == 429, r.text
    assert r.json() == {"detail": "Too many requests"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Remaining"] == "0"
    assert r.headers["RateLimit-Reset"] == r.headers["Retry-After"]
    assert stored(s, user) == before
    # every edit route counts; uploads and reads do not
    r = s.request("POST", f"/api/drawings/{did}/edits", user,
                  files={"prompt": (None, "invert the colors")})
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = s.request("POST", "/api/edit-image-with-audio", user,
                  files={"image": ("d.png", png_bytes(8, 8), "image/png"),
                         "audio": ("a.wav", b"RIFF", "audio/wav")})
    assert r.status_code == 429
    assert stored(s, user) == before
    up = s.upload(user, png_bytes(8, 8))
    assert "RateLimit-Limit" not in up.headers
    # other users have their own count
    assert edit(s, new_user()).status_code == 200


def test_429_comes_before_the_body_is_read(server_factory):
    s = server_factory(env={"RATE_LIMIT_EDITS": "1"})
    user = new_user()
    early_in_a_minute()
    assert edit(s, user).status_code == 200
    # a head that announces 5 MB, and no body: the answer comes without it
    head = (f"POST /api/edit-image HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Authorization: Bearer {s.token(user)}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {5 * 1024 * 1024}\r\n\r\n").encode()
    r = raw_request(s.port, head, timeout=10)
    assert r.status == 429, r
    assert r.header("Retry-After") and r.header("RateLimit-Limit") == "1"


def test_a_replay_is_not_counted(server_factory):
    s = server_factory(env={"RATE_LIMIT_EDITS": "2"})
    user = new_user()
    early_in_a_minute()
    first = edit(s, user, headers={"Idempotency-Key": "once"})
    assert first.status_code == 200
    for _ in range(3):
        again = edit(s, user, headers={"Idempotency-Key": "once"})
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert edit(s, user).status_code == 200
    assert edit(s, user).status_code == 429


def test_servers_sharing_a_database_share_the_limit(server_factory, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    env = {"DATA_DIR": str(shared), "RATE_LIMIT_EDITS": "3"}
    a, b = server_factory(env=env), server_factory(env=env)
    user = new_user()
    early_in_a_minute()
    assert [edit(x, user).status_code for x in (a, b, a)] == [200, 200, 200]
    assert edit(b, user).status_code == 429
    assert edit(a, user).status_code == 429


def test_zero_turns_the_limit_off(server_factory):
    s = server_factory(env={"RATE_LIMIT_EDITS": "0"})
    user = new_user()
    for _ in range(25):  # more than the default 20
        r = edit(s, user)
        assert r.status_code == 200, r.text
        assert "RateLimit-Limit" not in r.headers


def test_old_minutes_are_forgotten_by_the_job_worker(server_factory):
    s = server_factory(env={"RATE_LIMIT_EDITS": "5"})
    user = new_user()
    assert edit(s, user).status_code == 200
    s.db_exec("UPDATE rate_counts SET minute = minute - 10")
    s.terminate()  # the sweep runs at start, then once a minute
    s2 = server_factory(env={"DATA_DIR": str(s.data_dir), "RATE_LIMIT_EDITS": "5"})
    wait_until(lambda: s2.db_scalar("SELECT count(*) FROM rate_counts") == "0",
               timeout=15, what="the old count deleted")
