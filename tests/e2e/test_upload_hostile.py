"""Hostile and unusual uploads: non-images, truncated files, decompression bombs,
over-long bodies (with and without Content-Length), metadata stripping, EXIF
orientation, big images, client-supplied names (SPEC sections 5 and 6)."""
import concurrent.futures
import io
import os
import socket
import time

import pytest
from PIL import Image, PngImagePlugin

from conftest import NovaServer
from helpers import (decode, image_bytes, jpeg_header_bomb, jpeg_with_exif_and_gps, multipart,
                     new_user, noisy_png, png_bytes, png_chunks, png_header_bomb,
                     read_response_from, riff_chunks)

MIB = 1024 * 1024
TOO_LARGE = {"detail": "Request body too large"}
METADATA_CHUNKS = {b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"iCCP"}


@pytest.fixture(scope="module")
def limits_server(novadraw_bin, tmp_path_factory):
    s = NovaServer(novadraw_bin, tmp_path_factory.mktemp("limits"),
                   env={"MAX_UPLOAD_BYTES": str(MIB), "MAX_IMAGE_PIXELS": "250000",
                        "MAX_IMAGE_SIDE": "400"})
    s.start()
    yield s
    s.stop_and_check()


def near(a, b, tol=3):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def assert_nothing_stored(server, user):
    assert server.media_files(user) == set(), server.media_files(user)
    g = server.gallery(user)
    assert g["count"] == 0 and g["data"] == []


def assert_400(r):
    assert r.status_code == 400, f"{r.status_code} {r.text[:300]}"
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]


# --------------------------------------------------------------------------- not images

SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<rect width="10" height="10" fill="red"/></svg>')
NON_IMAGES = {
    "text": b"hello, this is not a drawing\n" * 10,
    "svg": SVG,
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n",
    "random": bytes(range(256)) * 8 + os.urandom(4096),
    "html": b"<!doctype html><html><body><script>alert(1)</script></body></html>",
    "png_signature_only": b"\x89PNG\r\n\x1a\n",
    "jpeg_soi_only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "gif_header_only": b"GIF89a\x10\x00\x10\x00",
    "riff_not_webp": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28,
}


@pytest.mark.parametrize("name", sorted(NON_IMAGES))
def test_non_images_are_400(server, name):
    user = new_user()
    for fname, ctype in (("x.png", "image/png"), ("x.bin", "application/octet-stream")):
        r = server.upload(user, NON_IMAGES[name], filename=fname, content_type=ctype, expect=None)
        assert_400(r)
    assert_nothing_stored(server, user)


def test_zero_byte_file_is_400(server):
    user = new_user()
    r = server.upload(user, b"", expect=None)
    assert_400(r)
    assert_nothing_stored(server, user)


def test_truncated_png_is_400(server):
    user = new_user()
    full = noisy_png(512, 512, seed=7)
    assert len(full) > 500_000
    r = server.upload(user, full[: int(len(full) * 0.6)], expect=None)
    assert_400(r)
    assert_nothing_stored(server, user)


def test_png_with_corrupt_image_data_is_400(server):
    user = new_user()
    data = bytearray(noisy_png(64, 64, seed=3))
    # Scramble the middle of the IDAT payload (the CRC stays wrong too).
    chunks = png_chunks(bytes(data))
    assert any(c == b"IDAT" for c, _ in chunks)
    mid = len(data) // 2
    data[mid:mid + 200] = os.urandom(200)
    r = server.upload(user, bytes(data), expect=None)
    assert_400(r)
    assert_nothing_stored(server, user)


# --------------------------------------------------------------------------- bombs

def test_png_header_bomb_is_413(server):
    user = new_user()
    bomb = png_header_bomb(60000, 60000)
    assert len(bomb) < 400
    t0 = time.monotonic()
    r = server.upload(user, bomb, expect=None)
    assert r.status_code == 413, r.text
    assert isinstance(r.json()["detail"], str)
    assert time.monotonic() - t0 < 5
    assert_nothing_stored(server, user)
    assert server.get("/health").status_code == 200


def test_jpeg_header_bomb_is_413(server):
    user = new_user()
    bomb = jpeg_header_bomb(60000, 60000)
    # Sanity: the frame header really claims 60000x60000 (Pillow itself refuses it).
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    r = server.upload(user, bomb, expect=None)
    assert r.status_code == 413, r.text
    assert_nothing_stored(server, user)


def test_pixel_limit_is_configurable(limits_server):
    s = limits_server
    user = new_user()
    r = s.upload(user, png_bytes(501, 500), expect=None)
    assert r.status_code == 413, r.text
    assert_nothing_stored(s, user)
    d = s.upload(user, png_bytes(500, 500)).json()
    # MAX_IMAGE_SIDE=400 on this server: scaled to fit.
    assert decode(s.media_path(d["uploaded_image_url"]).read_bytes()).size == (400, 400)


# --------------------------------------------------------------------------- body limits

def test_body_over_limit_with_content_length(limits_server):
    s = limits_server
    user = new_user()
    before = s.media_files()
    blob = os.urandom(2 * MIB)
    r = s.request("POST", "/api/drawings", user, files={"file": ("big.png", blob, "image/png")})
    assert r.status_code == 413, r.text[:300]
    assert r.json() == TOO_LARGE
    assert s.media_files() == before
    assert_nothing_stored(s, user)
    assert s.get("/health").status_code == 200


def test_body_over_limit_chunked(limits_server):
    s = limits_server
    user = new_user()
    before = s.media_files()
    body, ctype = multipart([("file", ("big.png", os.urandom(2 * MIB), "image/png"))])

    def gen():
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    r = s.request("POST", "/api/drawings", user, data=gen(), headers={"Content-Type": ctype})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.request.headers
    assert r.status_code == 413, r.text[:300]
    assert r.json() == TOO_LARGE
    assert s.media_files() == before
    assert_nothing_stored(s, user)
    assert s.get("/health").status_code == 200


def test_declared_length_over_limit_is_refused_before_the_body(limits_server):
    """With Content-Length known, 413 comes without waiting for the body."""
    s = limits_server
    user = new_user()
    tok = s.token(user)
    for length in (2 * MIB, 10 ** 15):
        head = (f"POST /api/drawings HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n"
                f"Authorization: Bearer {tok}\r\n"
                f"Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {length}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(head)
            t0 = time.monotonic()
            data = read_response_from(sock, timeout=8)
            elapsed = time.monotonic() - t0
        assert data.startswith(b"HTTP/1.1 413"), (length, data[:300])
        assert b'"Request body too large"' in data
        assert b"x-request-id:" in data.lower()
        assert elapsed < 5
    assert_nothing_stored(s, user)


def test_upload_just_under_limit_is_accepted(limits_server):
    s = limits_server
    user = new_user()
    data = noisy_png(470, 470, seed=11)
    assert 600_000 < len(data) < 1_000_000
    d = s.upload(user, data).json()
    stored = decode(s.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.size == (400, 400)


# --------------------------------------------------------------------------- scaling

def test_large_image_is_scaled_to_max_side(server):
    user = new_user()
    img = Image.new("RGB", (3000, 1000), (0, 128, 255))
    img.paste((255, 255, 0), (1500, 0, 3000, 1000))
    d = server.upload(user, image_bytes(img, "PNG")).json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.format == "PNG"
    assert stored.size[0] == 2048 and abs(stored.size[1] - 683) <= 1, stored.size
    rgb = stored.convert("RGB")
    assert near(rgb.getpixel((100, 300)), (0, 128, 255))
    assert near(rgb.getpixel((1900, 300)), (255, 255, 0))
    thumb = decode(server.media_path(d["thumbnail_url"]).read_bytes())
    assert thumb.size[0] == 256 and abs(thumb.size[1] - 85) <= 1, thumb.size


def test_extreme_aspect_ratio(server):
    user = new_user()
    d = server.upload(user, png_bytes(20000, 1, (9, 9, 9))).json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.size == (2048, 1), stored.size
    thumb = decode(server.media_path(d["thumbnail_url"]).read_bytes())
    assert thumb.size == (256, 1), thumb.size


def test_one_pixel_image(server):
    user = new_user()
    d = server.upload(user, png_bytes(1, 1, (1, 2, 3))).json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.size == (1, 1) and stored.convert("RGB").getpixel((0, 0)) == (1, 2, 3)


# --------------------------------------------------------------------------- metadata

def test_exif_orientation_applied_and_metadata_stripped(server):
    user = new_user()
    gps_marker, make_marker = "NDGPSCANARY4821", "NDMAKECANARY9313"
    jpg = jpeg_with_exif_and_gps(gps_marker, make_marker)
    # Sanity: the fixture really carries what we want stripped.
    src = Image.open(io.BytesIO(jpg))
    exif = src.getexif()
    assert exif.get(0x0112) == 6 and exif.get_ifd(0x8825).get(18) == gps_marker
    assert gps_marker.encode() in jpg and make_marker.encode() in jpg

    d = server.upload(user, jpg, filename="photo.jpg", content_type="image/jpeg").json()
    stored_bytes = server.media_path(d["uploaded_image_url"]).read_bytes()
    stored = decode(stored_bytes)
    assert stored.format == "PNG"
    assert stored.size == (200, 300), "EXIF orientation 6 was not applied"
    rgb = stored.convert("RGB")
    right, left = rgb.getpixel((180, 150)), rgb.getpixel((20, 150))
    assert right[0] > 200 and right[2] < 60, f"right half should be red, is {right}"
    assert left[2] > 200 and left[0] < 60, f"left half should be blue, is {left}"

    kinds = {c for c, _ in png_chunks(stored_bytes)}
    assert not (kinds & METADATA_CHUNKS), f"metadata chunks kept: {kinds & METADATA_CHUNKS}"
    assert gps_marker.encode() not in stored_bytes and make_marker.encode() not in stored_bytes
    assert len(stored.getexif()) == 0 and "exif" not in stored.info

    thumb_bytes = server.media_path(d["thumbnail_url"]).read_bytes()
    fourccs = [c for c, _ in riff_chunks(thumb_bytes)]
    assert b"EXIF" not in fourccs and b"XMP " not in fourccs, fourccs
    for c, payload in riff_chunks(thumb_bytes):
        if c == b"VP8X":
            assert payload[0] & 0x0C == 0, "VP8X announces EXIF/XMP"
    assert gps_marker.encode() not in thumb_bytes and make_marker.encode() not in thumb_bytes
    t = decode(thumb_bytes)
    assert t.size[1] == 256 and abs(t.size[0] - 171) <= 1, t.size

    # The served bytes are the stripped ones.
    assert server.http.get(d["uploaded_image_url"], timeout=10).content == stored_bytes


def test_png_text_and_exif_chunks_are_stripped(server):
    user = new_user()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "NDTEXTCANARY77")
    info.add_text("Author", "NDZTXTCANARY77", zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>NDXMPCANARY77</x:xmpmeta>")
    exif = Image.Exif()
    exif[0x010F] = "NDEXIFCANARY77"
    data = image_bytes(Image.new("RGB", (30, 20), (0, 200, 0)), "PNG", pnginfo=info,
                       exif=exif.tobytes())
    kinds = {c for c, _ in png_chunks(data)}
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf"} <= kinds
    d = server.upload(user, data).json()
    stored = server.media_path(d["uploaded_image_url"]).read_bytes()
    assert not ({c for c, _ in png_chunks(stored)} & METADATA_CHUNKS)
    for marker in (b"NDTEXTCANARY77", b"NDXMPCANARY77", b"NDEXIFCANARY77"):
        assert marker not in stored
    assert decode(stored).size == (30, 20)


# --------------------------------------------------------------------------- names and formats

def test_client_file_name_and_type_are_ignored(server):
    user = new_user()
    for fname, ctype in (("../../etc/passwd", "text/plain"), ("..\\..\\boot.ini", "application/pdf"),
                         ("evil.php", "application/x-php"), ("a\x7f.png", "image/gif")):
        r = server.upload(user, png_bytes(12, 9), filename=fname, content_type=ctype)
        d = r.json()
        key = server.key_of(d["uploaded_image_url"])
        assert key.startswith(f"users/{user}/original/") and key.endswith(".png")
        assert "passwd" not in key and ".." not in key and "php" not in key
        assert decode(server.media_path(d["uploaded_image_url"]).read_bytes()).size == (12, 9)
    assert not list(server.workdir.rglob("passwd"))
    assert not list(server.workdir.rglob("*.php"))


def test_jpeg_webp_gif_are_accepted(server):
    user = new_user()
    base = Image.new("RGB", (48, 32), (250, 10, 10))
    for fmt, kw in (("JPEG", {"quality": 95}), ("WEBP", {"lossless": True}), ("GIF", {})):
        d = server.upload(user, image_bytes(base, fmt, **kw), filename="x." + fmt.lower(),
                          content_type="image/" + fmt.lower()).json()
        stored_bytes = server.media_path(d["uploaded_image_url"]).read_bytes()
        stored = decode(stored_bytes)
        assert stored.format == "PNG" and stored.size == (48, 32), fmt
        r, g, b = stored.convert("RGB").getpixel((24, 16))
        assert r > 200 and g < 50 and b < 50, (fmt, (r, g, b))
    assert server.gallery(user)["count"] == 3


def test_animated_gif_keeps_first_frame(server):
    user = new_user()
    f1 = Image.new("RGB", (20, 20), (255, 0, 0))
    f2 = Image.new("RGB", (20, 20), (0, 255, 0))
    data = image_bytes(f1, "GIF", save_all=True, append_images=[f2], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    d = server.upload(user, data, filename="anim.gif", content_type="image/gif").json()
    stored = decode(server.media_path(d["uploaded_image_url"]).read_bytes())
    assert stored.size == (20, 20)
    r, g, b = stored.convert("RGB").getpixel((10, 10))
    assert r > 200 and g < 50, (r, g, b)


def test_concurrent_uploads(server):
    user = new_user()
    data = [png_bytes(16 + i, 16, (i * 20, 0, 0)) for i in range(10)]
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        results = list(ex.map(lambda b: server.upload(user, b, expect=None), data))
    assert [r.status_code for r in results] == [201] * 10
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 10
    g = server.gallery(user, limit=100)
    assert g["count"] == 10 and {d["id"] for d in g["data"]} == ids
    assert len(server.media_files(user)) == 20


# --------------------------------------------------------------------------- transfer styles

def test_chunked_upload_under_limit_is_accepted(server):
    user = new_user()
    body, ctype = multipart([("file", ("c.png", png_bytes(40, 30, (5, 6, 7)), "image/png"))])

    def gen():
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    r = server.request("POST", "/api/drawings", user, data=gen(), headers={"Content-Type": ctype})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 201, r.text
    d = r.json()
    assert decode(server.media_path(d["uploaded_image_url"]).read_bytes()).size == (40, 30)


def _curl_upload(server, tmp_path, data: bytes, user: str):
    import json
    import shutil
    import subprocess
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (tmp_path / "image.png").write_bytes(data)
    r = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"http://127.0.0.1:{server.port}/api/drawings",
         "-H", f"Authorization: Bearer {server.token(user)}", "-F", "file=@image.png",
         "-w", "\n%{http_code}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env={"PATH": server.env["PATH"], "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(body)


def test_curl_large_upload_with_expect_100_continue(server, tmp_path):
    # curl sends "Expect: 100-continue" for bodies over 1 MiB.
    user = new_user()
    data = noisy_png(700, 700, seed=21)
    assert len(data) > 1_200_000
    code, d = _curl_upload(server, tmp_path, data, user)
    assert code == 201, d
    assert decode(server.media_path(d["uploaded_image_url"]).read_bytes()).size == (700, 700)


def test_curl_over_limit_upload_is_413(limits_server, tmp_path):
    user = new_user()
    code, body = _curl_upload(limits_server, tmp_path, os.urandom(2 * MIB), user)
    assert code == 413 and body == TOO_LARGE
    assert_nothing_stored(limits_server, user)


# --------------------------------------------------------------------------- malformed multipart

def _post_raw_body(server, user, body: bytes, ctype: str | None):
    headers = {} if ctype is None else {"Content-Type": ctype}
    return server.request("POST", "/api/drawings", user, data=body, headers=headers)


PARSE_ERROR = {"detail": "There was an error parsing the body"}  # FastAPI's words
FILE_MISSING = [{"type": "missing", "loc": ["body", "file"], "msg": "Field required",
                 "input": None}]


# One status per case (SPEC §5, FastAPI's behaviour where the SPEC says "errors use
# FastAPI's shapes"): a body that cannot be parsed as multipart is 400 "There was an
# error parsing the body"; a parsed body without a `file` part is 422 body.file
# missing; a `file` that is not an image is 400.
@pytest.mark.parametrize("case,status", [
    ("file_is_plain_field", 400), ("no_closing_boundary", 400), ("no_boundary_param", 400),
    ("wrong_boundary", 422), ("json_body", 422), ("garbage_multipart", 422),
    ("part_without_headers", 400)])
def test_malformed_multipart_is_a_client_error(server, case, status):
    user = new_user()
    png = png_bytes(8, 8)
    if case == "file_is_plain_field":
        body, ctype = multipart([("file", "just some text")])
    elif case == "no_closing_boundary":
        body, ctype = multipart([("file", ("a.png", png, "image/png"))])
        body = body[: body.rfind(b"--ndtest")]
    elif case == "no_boundary_param":
        body, _ = multipart([("file", ("a.png", png, "image/png"))])
        ctype = "multipart/form-data"
    elif case == "wrong_boundary":
        body, _ = multipart([("file", ("a.png", png, "image/png"))])
        ctype = "multipart/form-data; boundary=somethingelse"
    elif case == "json_body":
        body, ctype = b'{"file": "aGVsbG8="}', "application/json"
    elif case == "garbage_multipart":
        body, ctype = os.urandom(3000), "multipart/form-data; boundary=xyz"
    else:
        body, ctype = b"--b\r\n\r\n" + png + b"\r\n--b--\r\n", "multipart/form-data; boundary=b"
    r = _post_raw_body(server, user, body, ctype)
    assert r.status_code == status, (case, r.status_code, r.text[:300])
    if status == 422:
        assert r.json() == {"detail": FILE_MISSING}, r.text
    elif case == "file_is_plain_field":
        assert "Unsupported image format" in r.json()["detail"], r.text
    else:
        assert r.json() == PARSE_ERROR, r.text
    assert_nothing_stored(server, user)
    assert server.get("/health").status_code == 200


def test_very_long_client_file_name(server):
    user = new_user()
    # SPEC §6: an image is recognised by its content, never by its file name, and the
    # body is far under every cap: a long name changes nothing
    r = server.upload(user, png_bytes(8, 8), filename="n" * 20000 + ".png", expect=None)
    assert r.status_code == 201, (r.status_code, r.text[:300])
    assert "nnnnnnnn" not in r.json()["uploaded_image_url"]
