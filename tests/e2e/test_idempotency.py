"""Idempotency-Key on the upload, edit and bulk-delete routes (SPEC §14): the same user
and key get the first answer again (same status and body, Idempotent-Replayed: true)
with nothing done twice; another request under the key is 422; the key while its first
request runs is 409; a bad key is 422 before the body is read; a 5xx gives the key up;
a crash mid-request leaves the key to be taken over once its lease ends, never a
half-done answer. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""
import concurrent.futures
import pathlib
import signal
import sys
import uuid

import pytest

from helpers import multipart, new_user, noisy_png, png_bytes, raw_request, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fakes"))
import gemini  # noqa: E402  (the fake)


def key() -> str:
    return "k-" + uuid.uuid4().hex


def edit(srv, user, data, prompt="make it black and white", idem=None, **kw):
    headers = {"Idempotency-Key": idem} if idem is not None else {}
    return srv.request("POST", "/api/edit-image", user, headers=headers,
                       files={"file": ("d.png", data, "image/png")},
                       data={"prompt": prompt}, **kw)


def upload(srv, user, data, idem):
    return srv.request("POST", "/api/drawings", user, headers={"Idempotency-Key": idem},
                       files={"file": ("d.png", data, "image/png")})


def rows(srv, user) -> int:
    return int(srv.db_scalar(f"SELECT count(*) FROM drawings WHERE user_id = '{user}'"))


def edit_rows(srv, user) -> int:
    return int(srv.db_scalar("SELECT count(*) FROM edits AS e JOIN drawings AS d "
                             f"ON d.id = e.drawing_id WHERE d.user_id = '{user}'"))


def test_an_edit_replayed_is_the_first_answer_and_done_once(server):
    user, k = new_user(), key()
    img = noisy_png(32, 32, seed=1)
    first = edit(server, user, img, idem=k)
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    files = server.media_files(user)
    again = edit(server, user, img, idem=k)
    assert again.status_code == 200
    assert again.content == first.content  # byte for byte, processing_time included
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert rows(server, user) == 1 and edit_rows(server, user) == 1
    assert server.media_files(user) == files  # one set of objects
    assert server.gallery(user)["count"] == 1


def test_a_multipart_retry_with_a_new_boundary_is_the_same_request(server):
    """Clients draw a new boundary for every send: the fields are what counts."""
    user, k = new_user(), key()
    img = png_bytes(9, 9)
    answers = []
    for _ in range(2):
        body, ctype = multipart([("file", ("d.png", img, "image/png"))])
        answers.append(server.request("POST", "/api/drawings", user, data=body,
                                      headers={"Content-Type": ctype, "Idempotency-Key": k}))
    assert [a.status_code for a in answers] == [201, 201], answers[1].text
    assert answers[0].content == answers[1].content
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert rows(server, user) == 1


def test_an_upload_and_a_bulk_delete_are_replayed(server):
    user, k = new_user(), key()
    first = upload(server, user, png_bytes(8, 8), k)
    assert first.status_code == 201, first.text
    assert upload(server, user, png_bytes(8, 8), k).content == first.content
    assert rows(server, user) == 1
    did = first.json()["id"]

    kd = key()
    body = {"ids": [did]}
    d1 = server.request("POST", "/api/drawings/bulk-delete", user, json=body,
                        headers={"Idempotency-Key": kd})
    assert d1.status_code == 200, d1.text
    # a new drawing meanwhile: the replay deletes nothing, and says what the first did
    other = upload(server, user, png_bytes(8, 8), key()).json()["id"]
    d2 = server.request("POST", "/api/drawings/bulk-delete", user, json=body,
                        headers={"Idempotency-Key": kd})
    assert (d2.status_code, d2.content) == (200, d1.content)
    assert d2.headers["Idempotent-Replayed"] == "true"
    assert server.get(f"/api/drawings/{other}", user).status_code == 200


def test_an_edit_of_a_saved_drawing_is_replayed(server):
    user = new_user()
    did = upload(server, user, noisy_png(24, 24, seed=3), key()).json()["id"]
    k = key()
    answers = [server.request("POST", f"/api/drawings/{did}/edits", user,
                              headers={"Idempotency-Key": k},
                              files={"prompt": (None, "invert the colors")}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].content == answers[1].content
    assert edit_rows(server, user) == 1


def test_a_different_request_under_the_key_is_422(server):
    user, k = new_user(), key()
    assert edit(server, user, png_bytes(8, 8), idem=k).status_code == 200
    for r in (edit(server, user, png_bytes(8, 8), "invert the colors", idem=k),  # prompt
              edit(server, user, png_bytes(9, 8), idem=k),                        # image
              upload(server, user, png_bytes(8, 8), k)):                          # route
        assert r.status_code == 422, r.text
        assert "different request" in r.json()["detail"]
        assert "Idempotent-Replayed" not in r.headers
    assert rows(server, user) == 1
    # another user's key of the same name is theirs alone
    assert edit(server, new_user(), png_bytes(8, 8), "invert the colors", idem=k).status_code == 200


def test_a_4xx_of_the_work_is_kept_and_a_key_without_one_is_not_needed(server):
    user, k = new_user(), key()
    bad = edit(server, user, b"not an image", idem=k)
    assert bad.status_code == 400, bad.text
    again = edit(server, user, b"not an image", idem=k)
    assert (again.status_code, again.content) == (400, bad.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    # requests without a key are never replayed
    a, b = edit(server, user, png_bytes(8, 8)), edit(server, user, png_bytes(8, 8))
    assert a.status_code == b.status_code == 200 and a.json()["drawing_id"] != b.json()["drawing_id"]


# a control byte other than tab is refused earlier, by the server's framing check (400)
@pytest.mark.parametrize("value,etype", [
    ("x" * 256, "string_too_long"),
    ("bad\x01key", None),
    ("tab\tkey", "string_pattern_mismatch"),
    ("caf\u00e9", "string_pattern_mismatch"),
])
def test_bad_keys_are_422_before_anything_is_stored(server, value, etype):
    user = new_user()
    body, ctype = multipart([("file", ("d.png", png_bytes(8, 8), "image/png")),
                             ("prompt", "make it black and white")])
    head = (f"POST /api/edit-image HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Authorization: Bearer {server.token(user)}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n").encode()
    r = raw_request(server.port, head + b"Idempotency-Key: " + value.encode("utf-8") +
                    b"\r\n\r\n" + body)
    import json
    if etype is None:
        assert r.status == 400, r
        assert json.loads(r.body) == {"detail": "A control character in a header value"}
    else:
        assert r.status == 422, r
        [entry] = json.loads(r.body)["detail"]
        assert entry["loc"] == ["header", "idempotency-key"]
        assert entry["type"] == etype
    assert rows(server, user) == 0


def test_an_empty_key_is_422_and_255_characters_are_taken(server):
    user = new_user()
    r = edit(server, user, png_bytes(8, 8), idem="")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == "string_too_short"
    k = "~" * 200 + " !" + "a" * 53  # printable ASCII, spaces inside, 255 long
    assert len(k) == 255
    first = edit(server, user, png_bytes(8, 8), idem=k)
    assert first.status_code == 200, first.text
    assert edit(server, user, png_bytes(8, 8), idem=k).content == first.content
    assert rows(server, user) == 1


# ---------------------------------------------------------------- slow model

@pytest.fixture(scope="module")
def fake():
    f = gemini.start_in_thread()
    yield f
    f.stop()


def gemini_env(fake, **extra):
    env = {"IMAGE_EDITOR": "gemini", "GEMINI_API_KEY": "test-gemini-key",
           "GEMINI_BASE_URL": fake.url, "GEMINI_MODEL": "gemini-2.5-flash-image"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def waiting(fake, marker) -> int:
    return len([r for r in fake.requests
                if marker in (r.get("prompt") or "") and r["answer"] is None])


def test_the_key_while_its_first_request_runs_is_409(fake, server_factory):
    s = server_factory(env=gemini_env(fake))
    user, k = new_user(), key()
    marker = "run-" + uuid.uuid4().hex
    prompt = f"sepia [fake:delay_ms=3000] {marker}"
    img = png_bytes(10, 10)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(edit, s, user, img, prompt, k)
        wait_until(lambda: waiting(fake, marker) == 1, timeout=30, what="the edit at the model")
        busy = edit(s, user, img, prompt, idem=k)
        assert busy.status_code == 409, busy.text
        assert "in progress" in busy.json()["detail"]
        first = slow.result()
    assert first.status_code == 200, first.text
    assert len([r for r in fake.requests if marker in (r.get("prompt") or "")]) == 1
    again = edit(s, user, img, prompt, idem=k)
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert rows(s, user) == 1


def test_a_5xx_gives_the_key_up(fake, server_factory):
    s = server_factory(env=gemini_env(fake))
    user, k = new_user(), key()
    r = edit(s, user, png_bytes(10, 10), "sepia [fake:status=400]", idem=k)
    assert r.status_code >= 500, r.text
    assert s.db_scalar(f"SELECT count(*) FROM idempotency_keys WHERE user_id = '{user}'") == "0"
    # the retry runs again (and is refused the same way: no replay header)
    r2 = edit(s, user, png_bytes(10, 10), "sepia [fake:status=400]", idem=k)
    assert r2.status_code == r.status_code and "Idempotent-Replayed" not in r2.headers


def test_a_crash_mid_request_is_taken_over_after_the_lease(fake, server_factory, tmp_path):
    """The server dies while the edit waits on the model: its key stays running (409)
    until the lease ends, then a retry runs it whole; never a half-done answer."""
    shared = tmp_path / "shared"
    shared.mkdir()
    env = gemini_env(fake, DATA_DIR=str(shared))
    a = server_factory(env=env)
    user, k = new_user(), key()
    marker = "run-" + uuid.uuid4().hex
    prompt = f"sepia [fake:delay_ms=5000] {marker}"
    img = png_bytes(12, 12)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        lost = pool.submit(edit, a, user, img, prompt, k)
        wait_until(lambda: waiting(fake, marker) == 1, timeout=30, what="the edit at the model")
        a.proc.send_signal(signal.SIGKILL)
        a.returncode = a.proc.wait(timeout=10)
        with pytest.raises(Exception):
            lost.result().raise_for_status()
    b = server_factory(env=env)
    assert edit(b, user, img, prompt, idem=k).status_code == 409  # its lease holds
    assert rows(b, user) == 0
    # the lease ends (time travel)
    b.db_exec("UPDATE idempotency_keys SET lease_until = 0",
              "UPDATE idempotency_keys SET lease_until = 'epoch'")
    r = edit(b, user, img, prompt.replace("5000", "10"), idem=k)
    assert r.status_code == 422  # another prompt is another request, even now
    r = edit(b, user, img, prompt, idem=k)
    assert r.status_code == 200, r.text
    assert "Idempotent-Replayed" not in r.headers
    assert rows(b, user) == 1
    again = edit(b, user, img, prompt, idem=k)
    assert again.content == r.content and again.headers["Idempotent-Replayed"] == "true"


def test_expired_keys_are_deleted_by_the_job_worker(server_factory):
    s = server_factory()
    user, k = new_user(), key()
    assert upload(s, user, png_bytes(8, 8), k).status_code == 201
    s.db_exec("UPDATE idempotency_keys SET created_at = created_at - 86400001",
              "UPDATE idempotency_keys SET created_at = created_at - interval '86400001 ms'")
    # an expired key is a new key, even before the sweep
    assert upload(s, user, png_bytes(8, 8), k).headers.get("Idempotent-Replayed") is None
    assert rows(s, user) == 2
    s.db_exec("UPDATE idempotency_keys SET created_at = created_at - 86400001",
              "UPDATE idempotency_keys SET created_at = created_at - interval '86400001 ms'")
    # the sweep runs on start and once a minute: a new server sweeps at once
    s.terminate()
    s2 = server_factory(env={"DATA_DIR": str(s.data_dir)})
    wait_until(lambda: s2.db_scalar("SELECT count(*) FROM idempotency_keys") == "0",
               timeout=15, what="the expired key deleted")
