"""POST /api/edit-image with IMAGE_EDITOR=gemini against the fake Gemini
(tests/fakes/gemini.py), which speaks the real generateContent wire format. Each
of the fake's failure modes must map to the right status with a JSON detail that
holds no secret, the key must travel in the header only, the original must be
kept when the model fails, and many edits must wait on the model at once."""
import base64
import concurrent.futures
import pathlib
import sys
import uuid

import pytest

from helpers import decode, new_user, noisy_png, png_bytes, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fakes"))
import gemini  # noqa: E402  (the fake)

KEY = "test-gemini-key"


@pytest.fixture(scope="module")
def fake():
    f = gemini.start_in_thread()
    yield f
    f.stop()


def gemini_env(fake, **extra):
    env = {"IMAGE_EDITOR": "gemini", "GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": fake.url,
           "GEMINI_MODEL": "gemini-2.5-flash-image"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="module")
def gserver(fake, novadraw_bin, tmp_path_factory):
    from conftest import NovaServer
    s = NovaServer(novadraw_bin, tmp_path_factory.mktemp("gsrv"), env=gemini_env(fake))
    s.start()
    yield s
    s.stop_and_check()
    log = s.log_text()
    assert KEY not in log, "the Gemini key appears in the server's log"


def edit(server, user, data, prompt, **kw):
    return server.request("POST", "/api/edit-image", user,
                          files={"file": ("d.png", data, "image/png")},
                          data={"prompt": prompt}, **kw)


def recorded(fake, marker):
    return [r for r in fake.requests if marker in (r.get("prompt") or "")]


def wait_waiting_on_model(fake, marker, n):
    """Until n requests whose prompt holds marker have reached the fake, none answered."""
    wait_until(lambda: len([r for r in recorded(fake, marker) if r["answer"] is None]) == n,
               timeout=30, what=f"{n} edits waiting on the model")


def assert_clean_error(r, status, *fragments):
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["detail"], str)
    for f in fragments:
        assert f in body["detail"], body
    assert KEY not in r.text
    return body


def assert_original_kept(server, user, body):
    """The failed edit still saved the drawing: its original, no edit."""
    did = body["drawing_id"]
    d = server.get(f"/api/drawings/{did}", user).json()
    assert d["edited_images_urls"] == [] and d["edits"] == []
    assert server.media_path(d["uploaded_image_url"]).is_file()
    assert len(server.media_files(user)) == 2  # the original and its thumbnail
    assert server.stats(user)["edited_drawings"] == 0


# ---------------------------------------------------------------- the wire format

def test_request_wire_format_and_key_in_header(gserver, fake):
    user = new_user()
    prompt = "make it black and white [fake:delay_ms=0] wire"
    src = noisy_png(48, 32, seed=2)
    r = edit(gserver, user, src, prompt)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["success", "prompt", "result_image", "processing_time", "drawing_id",
                          "user_id", "applied", "ignored"]
    assert body["applied"] is None and body["ignored"] is None  # a remote editor (SPEC §16)
    assert body["success"] == "true" and body["prompt"] == prompt and body["user_id"] == user
    (req,) = recorded(fake, "wire")
    assert req["method"] == "POST"
    assert req["path"] == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert req["headers"]["x-goog-api-key"] == KEY
    assert KEY not in req["target"] and "key=" not in req["target"]
    assert req["headers"]["content-type"] == "application/json"
    doc = req["body"]
    parts = doc["contents"][0]["parts"]
    assert parts[0] == {"text": prompt}
    inline = parts[1]["inline_data"]
    assert inline["mime_type"] == "image/png"
    assert decode(base64.b64decode(inline["data"])).size == (48, 32)
    assert doc["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    # the fake's edit is a greyscale conversion: what we stored is the model's image
    out = decode(gserver.http.get(body["result_image"]).content).convert("RGB")
    assert all(p[0] == p[1] == p[2] for p in out.getdata())


@pytest.mark.parametrize("marker", ["[fake:thought_parts]", "[fake:text_first=0]"])
def test_parts_in_any_order_and_thoughts_skipped(gserver, fake, marker):
    user = new_user()
    r = edit(gserver, user, noisy_png(40, 40, seed=4), f"sepia {marker}")
    assert r.status_code == 200, r.text
    out = decode(gserver.http.get(r.json()["result_image"]).content)
    assert out.size == (40, 40)  # not the fake's 16x16 magenta decoy thought
    assert all(p[0] == p[1] == p[2] for p in out.convert("RGB").getdata())


# ---------------------------------------------------------------- refusals: 422, original kept

@pytest.mark.parametrize("marker,reason", [
    ("[fake:block]", "SAFETY"),
    ("[fake:block=PROHIBITED_CONTENT]", "PROHIBITED_CONTENT"),
    ("[fake:finish_reason=IMAGE_SAFETY]", "IMAGE_SAFETY"),
    ("[fake:finish_reason=NO_IMAGE]", "NO_IMAGE"),
])
def test_model_refusals_are_422_with_the_reason(gserver, fake, marker, reason):
    user = new_user()
    r = edit(gserver, user, png_bytes(20, 20), f"do it {marker}")
    body = assert_clean_error(r, 422, "refused", reason)
    assert_original_kept(gserver, user, body)


def test_text_without_an_image_is_422(gserver, fake):
    user = new_user()
    r = edit(gserver, user, png_bytes(20, 20), "do it [fake:no_image]")
    body = assert_clean_error(r, 422, "no image")
    assert_original_kept(gserver, user, body)


# ---------------------------------------------------------------- failures: 502/504, retries

def test_transient_errors_are_retried(gserver, fake):
    user = new_user()
    r = edit(gserver, user, png_bytes(20, 20), "sepia [fake:status=503][fake:fail_times=2] rt")
    assert r.status_code == 200, r.text
    assert [q["answer"] for q in recorded(fake, "] rt")] == [503, 503, 200]


@pytest.mark.parametrize("status,expect", [(500, 502), (503, 502), (429, 503), (504, 504)])
def test_persistent_errors_after_retries(gserver, fake, status, expect):
    user = new_user()
    tag = f"persist{status}"
    r = edit(gserver, user, png_bytes(20, 20), f"sepia [fake:status={status}] {tag}")
    body = assert_clean_error(r, expect, str(status))
    if status == 429:  # the model is busy: so are we, try again shortly
        assert r.headers["Retry-After"].isdigit() and "busy" in body["detail"]
    assert len(recorded(fake, tag)) == 3  # GEMINI_RETRIES=2: three attempts in all
    assert_original_kept(gserver, user, body)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(gserver, fake, status):
    user = new_user()
    tag = f"noretry{status}"
    r = edit(gserver, user, png_bytes(20, 20), f"sepia [fake:status={status}] {tag}")
    assert_clean_error(r, 502, str(status))
    assert len(recorded(fake, tag)) == 1


@pytest.mark.parametrize("marker,detail", [
    ("[fake:malformed]", "unreadable"),
    ("[fake:drop]", "did not answer"),
    ("[fake:not_image]", "could not be used"),
    ("[fake:huge_image]", "could not be used"),
])
def test_broken_answers_are_502(gserver, fake, marker, detail):
    user = new_user()
    r = edit(gserver, user, png_bytes(20, 20), f"sepia {marker}")
    body = assert_clean_error(r, 502, detail)
    assert_original_kept(gserver, user, body)


def test_wrong_key_is_502_without_the_key(fake, server_factory):
    s = server_factory(env=gemini_env(fake, GEMINI_API_KEY="wrong-key-0123456789"))
    user = new_user()
    r = edit(s, user, png_bytes(20, 20), "sepia")
    assert_clean_error(r, 502, "400")
    assert "wrong-key-0123456789" not in r.text
    s.stop_and_check()
    assert "wrong-key-0123456789" not in s.log_text()


def test_timeout_is_504(fake, server_factory):
    s = server_factory(env=gemini_env(fake, GEMINI_TIMEOUT=1, GEMINI_RETRIES=0))
    user = new_user()
    # the fake would answer 200 after 4 s: a 504 means our 1 s timeout ended the call
    r = edit(s, user, png_bytes(20, 20), "sepia [fake:delay_ms=4000]")
    body = assert_clean_error(r, 504, "timed out")
    assert_original_kept(s, user, body)


def test_unreachable_service_is_502(server_factory):
    from conftest import free_port
    s = server_factory(env={"IMAGE_EDITOR": "gemini", "GEMINI_API_KEY": KEY, "GEMINI_RETRIES": "1",
                            "GEMINI_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    user = new_user()
    r = edit(s, user, png_bytes(20, 20), "sepia")
    body = assert_clean_error(r, 502)
    assert_original_kept(s, user, body)


# ---------------------------------------------------------------- never blocking

def test_many_slow_edits_at_once_and_the_gallery_answers_meanwhile(gserver, fake):
    user = new_user()
    n = 50
    images = [noisy_png(32, 32, seed=100 + i) for i in range(n)]
    marker = "run-" + uuid.uuid4().hex
    # the fake answers each 3 s after it arrives: room for all 50 to arrive first
    prompt = f"sepia [fake:delay_ms=3000] {marker}"

    def one(i):
        return edit(gserver, user, images[i], prompt, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        wait_waiting_on_model(fake, marker, n)
        g = gserver.gallery(user)
        results = [f.result() for f in futures]
    assert [r.status_code for r in results] == [200] * n
    bodies = [r.json() for r in results]
    assert len({b["drawing_id"] for b in bodies}) == n
    assert len({b["result_image"] for b in bodies}) == n
    # answered while all 50 still waited on the model, none recorded yet: the gallery
    # did not queue behind them (its latency under load: bench/edits.sh)
    assert g["count"] == 0
    assert gserver.stats(user)["edited_drawings"] == n


def test_queue_full_is_503_with_retry_after(fake, server_factory):
    s = server_factory(env=gemini_env(fake, EDIT_QUEUE=2))
    user = new_user()
    marker = "run-" + uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(edit, s, user, png_bytes(10, 10),
                            f"sepia [fake:delay_ms=3000] {marker}") for _ in range(2)]
        wait_waiting_on_model(fake, marker, 2)  # both admitted: the queue is full
        r = edit(s, user, png_bytes(10, 10), "sepia")
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"].isdigit()
        assert "try again" in r.json()["detail"]
        assert [f.result().status_code for f in slow] == [200, 200]
    assert s.gallery(user)["count"] == 2  # the refused upload left nothing behind
    assert edit(s, user, png_bytes(10, 10), "sepia").status_code == 200


def test_shutdown_finishes_edits_in_flight(fake, server_factory):
    s = server_factory(env=gemini_env(fake))
    user = new_user()
    marker = "run-" + uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(edit, s, user, png_bytes(10, 10), f"sepia [fake:delay_ms=1000] {marker}")
        wait_waiting_on_model(fake, marker, 1)  # the edit is in flight
        s.proc.terminate()
        r = fut.result()
    assert r.status_code == 200, r.text
    assert s.proc.wait(timeout=30) == 0
