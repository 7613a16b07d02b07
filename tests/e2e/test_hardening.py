"""Findings of the hostile-input battery (SPEC section 15), one regression each: request
targets that outgrow the connection's memory, 422 entries for bytes that are not UTF-8,
what a crash leaves in storage, symlinks under media/, empty audio, PNG metadata, and
/health while large uploads decode."""
import json
import re
import socket

import pytest

from helpers import new_user, parse_response, png_bytes

# A failure condition, not a wait: an answer that takes longer than this is a hang.
ANSWER_TIMEOUT = 5.0


def exchange(port: int, request: bytes) -> tuple[bytes, socket.socket]:
    """Sends request and reads one whole answer (head and Content-Length body); fails
    if none comes within ANSWER_TIMEOUT. Returns the answer and the open socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
    try:
        s.sendall(request)
        data = b""
        while True:
            sep = data.find(b"\r\n\r\n")
            if sep >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:sep])
                assert m, f"answer without Content-Length: {data[:300]!r}"
                if len(data) >= sep + 4 + int(m.group(1)):
                    return data, s
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                pytest.fail(f"no answer within {ANSWER_TIMEOUT}s (got {data[:200]!r})")
            assert chunk, f"connection closed without a whole answer: {data[:300]!r}"
            data += chunk
    except BaseException:
        s.close()
        raise


def get_request(port: int, target: bytes, close: bool = True) -> bytes:
    head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n"


# ------------------------------------------------------------ 1. many query parameters

@pytest.mark.parametrize("n", [65, 500, 5000])
def test_many_query_parameters_answer_414_json(server, n):
    target = b"/health?" + b"&".join([b"a"] * n)
    data, s = exchange(server.port, get_request(server.port, target, close=False))
    s.close()
    r = parse_response(data)
    assert r.status == 414, r
    assert r.header("Content-Type") == "application/json"
    body = json.loads(r.body)
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    assert server.get("/health", timeout=ANSWER_TIMEOUT).status_code == 200


def test_64_query_parameters_are_still_served(server, user):
    target = b"/api/drawings/gallery?" + b"&".join([b"x%d=1" % i for i in range(63)] + [b"limit=2"])
    head = get_request(server.port, target)[:-2] + f"Authorization: Bearer {server.token(user)}\r\n\r\n".encode()
    data, s = exchange(server.port, head)
    s.close()
    r = parse_response(data)
    assert r.status == 200, r
    assert json.loads(r.body)["limit"] == 2


def test_long_request_target_answers_414_json(server):
    data, s = exchange(server.port, get_request(server.port, b"/health?q=" + b"a" * 20000))
    s.close()
    r = parse_response(data)
    assert r.status == 414, r
    assert set(json.loads(r.body)) == {"detail"}


def test_many_parameters_on_an_upload_route(server, user):
    """A refused target on a route with a body: answered, the body drained or the
    connection closed, never a hang."""
    target = b"/api/drawings?" + b"&".join([b"a"] * 500)
    body = b"x" * 1000
    req = (b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           + f"Authorization: Bearer {server.token(user)}\r\n".encode()
           + b"Content-Type: multipart/form-data; boundary=zz\r\n"
           + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    data, s = exchange(server.port, req)
    s.close()
    r = parse_response(data)
    assert r.status == 414, r
    assert set(json.loads(r.body)) == {"detail"}


# ------------------------------------------------------------ 2. 422s for bytes that are not UTF-8

INT_MSG = "Input should be a valid integer, unable to parse string as an integer"


def entries_of(server, user, target: str) -> list[dict]:
    r = server.get(target, user)  # requests keeps %ff escapes as they are
    assert r.status_code == 422, f"{r.status_code} {r.text[:300]}"
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], list), body
    return body["detail"]


def test_path_parameter_not_utf8(server, user):
    assert entries_of(server, user, "/api/drawings/%ff%fe") == [
        {"type": "uuid_parsing", "loc": ["path", "drawing_id"],
         "msg": "Input should be a valid UUID", "input": "\ufffd\ufffd"}]


@pytest.mark.parametrize("query,name,shown", [("page=%ff", "page", "\ufffd"),
                                               ("limit=%ff%fe", "limit", "\ufffd\ufffd"),
                                               ("page=1%c3", "page", "1\ufffd")])
def test_query_int_not_utf8(server, user, query, name, shown):
    assert entries_of(server, user, "/api/drawings/gallery?" + query) == [
        {"type": "int_parsing", "loc": ["query", name], "msg": INT_MSG, "input": shown}]


def test_every_entry_listed_with_bytes_not_utf8(server, user):
    es = entries_of(server, user, "/api/drawings/gallery?page=%ff&limit=0")
    assert es == [
        {"type": "int_parsing", "loc": ["query", "page"], "msg": INT_MSG, "input": "\ufffd"},
        {"type": "greater_than_equal", "loc": ["query", "limit"],
         "msg": "Input should be greater than or equal to 1", "input": "0", "ctx": {"ge": 1}}]
    es = entries_of(server, user, "/api/drawings/gallery?limit=%fe&page=%ff&sort=%80&edited=%c0%af")
    assert [(e["loc"][1], e["input"]) for e in es] == [
        ("page", "\ufffd"), ("limit", "\ufffd"), ("edited", "\ufffd\ufffd"), ("sort", "\ufffd")]


# ------------------------------------------------------------ 3. temp files a crash left

def plant(path, age_seconds: float):
    import os
    import time
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a png")
    t = time.time() - age_seconds
    os.utime(path, (t, t))
    return path


def test_gc_sweeps_old_temp_files(fresh_server, user):
    srv = fresh_server
    srv.upload(user, png_bytes(16, 16))
    media = srv.data_dir / "media"
    objects = {p for p in media.rglob("*") if p.is_file()}
    stem = f"20200101_000000_000_{'ab' * 16}.png"
    d = media / "users" / user / "original"
    old = plant(d / f"{stem}.tmp-Ab12Cd", 2 * 86400)
    old_probe = plant(media / "users" / ".probe" / f"{'cd' * 16}.png.tmp-zzzzzz", 2 * 86400)
    hour = plant(media / "users" / user / "thumbnail" / f"{stem[:-4]}.webp.tmp-000000", 3600)
    recent = plant(d / f"{stem}.tmp-Xy98Zw", 300)
    fresh = plant(d / f"{stem}.tmp-qwerty", 0)
    not_temp = plant(d / "notes.tmp-abc", 2 * 86400)  # not the shape of our temp files

    r = srv.cli("gc", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"would delete temp file {old.relative_to(media)}" in r.stdout
    assert all(p.exists() for p in (old, old_probe, hour, recent, fresh))

    r = srv.cli("gc")  # default grace 24h
    assert r.returncode == 0, r.stderr
    assert f"deleted temp file {old.relative_to(media)}" in r.stdout
    assert f"deleted temp file {old_probe.relative_to(media)}" in r.stdout
    assert "2 temp files of interrupted writes removed" in r.stdout, r.stdout
    assert not old.exists() and not old_probe.exists()
    assert hour.exists() and recent.exists() and fresh.exists() and not_temp.exists()

    # a shorter grace reaches younger leftovers, but never those of the last 15 minutes
    r = srv.cli("gc", "--older-than", "0")
    assert r.returncode == 0, r.stderr
    assert not hour.exists()
    assert recent.exists() and fresh.exists() and not_temp.exists()
    # the drawing's objects were never touched
    assert all(p.exists() for p in objects)
    assert len(srv.gallery(user)["data"]) == 1


# ------------------------------------------------------------ 4. symlinks under media/

def snapshot(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_directory_symlink_under_media_leads_nowhere(server, tmp_path):
    victim = new_user()
    outside = tmp_path / "outside"
    key_name = f"20250101_000000_000_{'ef' * 16}.png"
    (outside / "original").mkdir(parents=True)
    (outside / "original" / key_name).write_bytes(b"secret, not an image of ours")
    before = snapshot(outside)
    users = server.data_dir / "media" / "users"
    users.mkdir(parents=True, exist_ok=True)
    (users / victim).symlink_to(outside, target_is_directory=True)

    # reading through the link: 404, never the outside file
    r = server.get(f"/media/users/{victim}/original/{key_name}")
    assert r.status_code == 404, f"{r.status_code} {r.content[:100]!r}"
    assert b"secret" not in r.content

    # writing through the link: the upload is answered (kept pending while storage
    # refuses, or a 5xx), and nothing outside changes
    r = server.upload(victim, png_bytes(16, 16), expect=None)
    assert r.status_code in (201, 500, 503), f"{r.status_code} {r.text[:300]}"
    if r.status_code == 201:
        assert r.json()["uploaded_image_url"].startswith(("data:", server.base + "/media/pending/"))
    r = server.request("POST", "/api/edit-image", victim,
                       files={"file": ("d.png", png_bytes(16, 16), "image/png")},
                       data={"prompt": "make it black and white"})
    assert r.status_code in (200, 500, 503), f"{r.status_code} {r.text[:300]}"
    assert snapshot(outside) == before
    assert server.get("/health").status_code == 200


# ------------------------------------------------------------ 5. an empty audio field

EMPTY_AUDIO = {"detail": "The audio file is empty."}


def test_empty_audio_on_edit_image_with_audio(server, user):
    files = {"image": ("d.png", png_bytes(16, 16), "image/png"),
             "audio": ("a.wav", b"", "audio/wav")}
    r = server.request("POST", "/api/edit-image-with-audio", user, files=files)
    assert r.status_code == 400, f"{r.status_code} {r.text[:300]}"
    assert r.json() == EMPTY_AUDIO
    assert server.gallery(user)["count"] == 0
    assert server.media_files(user) == set()


def test_empty_audio_on_drawing_edit(server, user):
    d = server.upload(user, png_bytes(16, 16)).json()
    r = server.request("POST", f"/api/drawings/{d['id']}/edits", user,
                       files={"audio": ("a.ogg", b"", "audio/ogg")}, data={"language": "en"})
    assert r.status_code == 400, f"{r.status_code} {r.text[:300]}"
    assert r.json() == EMPTY_AUDIO
    r = server.get(f"/api/drawings/{d['id']}", user)
    assert r.status_code == 200 and r.json()["edited_images_urls"] == []


# ------------------------------------------------------------ 6. no metadata chunk in stored PNGs

IMAGE_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def sources():
    from PIL import Image, PngImagePlugin
    from helpers import image_bytes, jpeg_with_exif_and_gps
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret comment")
    info.add_itxt("Author", "someone", lang="en")
    info.add_text("Software", "x" * 200, zip=True)
    rgb = Image.new("RGB", (40, 30), (200, 30, 30))
    grey16 = Image.new("I;16", (40, 30), 30000)
    return {
        "jpeg_exif": jpeg_with_exif_and_gps("here", "camera"),  # re-encoded
        "png_text_phys": image_bytes(rgb, "PNG", pnginfo=info, dpi=(300, 300)),  # kept as sent
        "png16_phys": image_bytes(grey16, "PNG", dpi=(72, 72)),  # re-encoded (16-bit)
        "webp": image_bytes(rgb, "WEBP"),
    }


@pytest.mark.parametrize("name", ["jpeg_exif", "png_text_phys", "png16_phys", "webp"])
def test_stored_pngs_have_image_chunks_only(server, user, name):
    from helpers import decode, png_chunks
    d = server.upload(user, sources()[name]).json()
    r = server.request("POST", f"/api/drawings/{d['id']}/edits", user,
                       data={"prompt": "make it black and white"})
    assert r.status_code == 200, r.text
    d = server.get(f"/api/drawings/{d['id']}", user).json()
    urls = [d["uploaded_image_url"]] + d["edited_images_urls"]
    assert len(urls) == 2
    for url in urls:
        data = server.media_path(url).read_bytes()
        kinds = [c for c, _ in png_chunks(data)]  # CRCs checked too
        assert set(kinds) <= IMAGE_CHUNKS, f"{url}: chunks {kinds}"
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
        decode(data)  # still a sound image


# ------------------------------------------------------------ 7. uploads decode off the HTTP threads

def test_health_answers_while_large_uploads_decode(server):
    """POST /api/drawings decodes on the cpu pool, not on MHD's threads: with eight
    large uploads in flight, /health is still answered (no timing asserted)."""
    import concurrent.futures
    import os

    from PIL import Image

    from helpers import image_bytes

    # big to decode, small to send: 4000x3000 noise as a JPEG
    img = Image.frombytes("RGB", (4000, 3000), os.urandom(4000 * 3000 * 3))
    data = image_bytes(img, "JPEG", quality=30)

    def upload(u):
        return server.upload(u, data, filename="big.jpg", content_type="image/jpeg",
                             expect=None).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(upload, new_user()) for _ in range(8)]
        statuses = []
        while not statuses or not all(f.done() for f in futures):
            statuses.append(server.get("/health", timeout=30).status_code)
        codes = [f.result() for f in futures]
    assert set(statuses) == {200}, statuses
    assert codes == [201] * 8, codes
