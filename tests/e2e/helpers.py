"""Pure helpers for the NovaDraw end-to-end tests: image builders, format parsers,
a hand-made multipart encoder and a raw-socket HTTP client.

Nothing here talks to a particular server instance; see conftest.py for that.
"""
from __future__ import annotations

import datetime as _dt
import io
import os
import re
import select
import socket
import struct
import time
import uuid
import zlib

from PIL import Image

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PNG_SIG = b"\x89PNG\r\n\x1a\n"

# The keys every DrawingResponse must carry (seed shape + the additive fields).
DRAWING_KEYS = {
    "id", "user_id", "tutorial_id", "uploaded_image_url", "edited_images_urls",
    "created_at", "updated_at", "thumbnail_url", "edits",
}


def new_user() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- images

def png_bytes(w: int, h: int, color=(200, 30, 30), mode: str = "RGB", **save_kw) -> bytes:
    img = Image.new(mode, (w, h), color)
    buf = io.BytesIO()
    img.save(buf, "PNG", **save_kw)
    return buf.getvalue()


def image_bytes(img: Image.Image, fmt: str, **save_kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save_kw)
    return buf.getvalue()


def noisy_png(w: int, h: int, seed: int | None = None) -> bytes:
    """An incompressible RGB PNG (random pixels)."""
    raw = os.urandom(w * h * 3) if seed is None else _det_bytes(w * h * 3, seed)
    img = Image.frombytes("RGB", (w, h), raw)
    return image_bytes(img, "PNG", compress_level=1)


def _det_bytes(n: int, seed: int) -> bytes:
    import random
    rnd = random.Random(seed)
    return rnd.randbytes(n)


def quadrant_image(w: int, h: int) -> Image.Image:
    """Four distinct flat colours, one per quadrant: TL red, TR green, BL blue, BR white."""
    img = Image.new("RGB", (w, h), (255, 0, 0))
    img.paste((0, 255, 0), (w // 2, 0, w, h // 2))
    img.paste((0, 0, 255), (0, h // 2, w // 2, h))
    img.paste((255, 255, 255), (w // 2, h // 2, w, h))
    return img


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_chunk(ctype: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + ctype + payload
            + struct.pack(">I", zlib.crc32(ctype + payload) & 0xFFFFFFFF))


def png_header_bomb(w: int = 60000, h: int = 60000) -> bytes:
    """A tiny, well-formed-looking PNG whose IHDR claims w x h 8-bit RGB.

    The CRCs are right, so a decoder accepts the header; the IDAT holds only a
    few bytes, so anything that trusts the header and allocates w*h*3 is hurt.
    """
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64, 9)
    return PNG_SIG + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_header_bomb(w: int = 60000, h: int = 60000) -> bytes:
    """A real small JPEG whose SOF0 frame header is patched to claim w x h."""
    data = bytearray(image_bytes(Image.new("RGB", (16, 16), (10, 120, 200)), "JPEG"))
    i = data.find(b"\xff\xc0")
    assert i > 0, "Pillow did not write a baseline SOF0 marker"
    # FFC0 | len(2) | precision(1) | height(2) | width(2)
    struct.pack_into(">HH", data, i + 5, h, w)
    return bytes(data)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG; asserts the structure is sound."""
    assert data[:8] == PNG_SIG, "not a PNG signature"
    out = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(ctype + payload) & 0xFFFFFFFF == crc, f"bad CRC in {ctype!r}"
        out.append((ctype, payload))
        pos += 12 + length
        if ctype == b"IEND":
            break
    assert out and out[-1][0] == b"IEND", "PNG has no IEND"
    return out


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of the chunks of a RIFF/WebP file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    (riff_len,) = struct.unpack("<I", data[4:8])
    assert riff_len + 8 == len(data), "RIFF length does not match the file size"
    out = []
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4:pos + 8])
        out.append((fourcc, data[pos + 8:pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return out


def jpeg_with_exif_and_gps(marker_gps: str, marker_make: str) -> bytes:
    """300x200 JPEG, top half red, bottom half blue, EXIF orientation 6 (display
    rotated 90 degrees clockwise), a camera make and a GPS IFD with lat/lon."""
    img = Image.new("RGB", (300, 200), (255, 0, 0))
    img.paste((0, 0, 255), (0, 100, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = marker_make
    exif[0x8825] = {
        1: "N", 2: (48.0, 51.0, 29.0),
        3: "E", 4: (2.0, 17.0, 40.0),
        18: marker_gps,
    }
    return image_bytes(img, "JPEG", exif=exif.tobytes(), quality=95)


# --------------------------------------------------------------------------- multipart

def multipart(fields, boundary: str | None = None) -> tuple[bytes, str]:
    """Encode fields by hand. fields: iterable of (name, value) where value is a str
    (a plain form field) or (filename, bytes, content_type)."""
    boundary = boundary or ("ndtest" + uuid.uuid4().hex)
    parts = []
    for name, value in fields:
        if isinstance(value, tuple):
            filename, data, ctype = value
            head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
            parts.append(head + data + b"\r\n")
        else:
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            parts.append(head + value.encode() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- raw HTTP

class RawResponse:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.reason = reason
        self.header_list = headers
        self.body = body

    def header(self, name: str, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k.lower() == name:
                return v
        return default

    def __repr__(self):
        return f"<RawResponse {self.status} {self.header_list} {self.body[:200]!r}>"


def parse_response(data: bytes, head_only: bool = False) -> RawResponse:
    sep = data.find(b"\r\n\r\n")
    assert sep >= 0, f"no complete HTTP head in {data[:300]!r}"
    head = data[:sep].decode("latin-1").split("\r\n")
    status_line = head[0].split(" ", 2)
    assert status_line[0].startswith("HTTP/1."), f"bad status line {head[0]!r}"
    status = int(status_line[1])
    reason = status_line[2] if len(status_line) > 2 else ""
    headers = []
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    body = data[sep + 4:]
    resp = RawResponse(status, reason, headers, body)
    te = (resp.header("Transfer-Encoding") or "").lower()
    if not head_only and "chunked" in te:
        resp.body = _dechunk(body)
    return resp


def _dechunk(body: bytes) -> bytes:
    out = b""
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return out
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def recv_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def raw_request(port: int, request: bytes, timeout: float = 10.0, head_only: bool = False) -> RawResponse:
    """Send bytes exactly as given (no URL normalisation) and read until close.
    The request should carry `Connection: close`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = recv_all(s, timeout)
    return parse_response(data, head_only=head_only)


def raw_get(port: int, target: str | bytes, headers: dict | None = None, method: str = "GET") -> RawResponse:
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port,
             b"Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    return raw_request(port, b"\r\n".join(lines) + b"\r\n\r\n", head_only=(method == "HEAD"))


def read_response_from(sock: socket.socket, timeout: float = 15.0) -> bytes:
    """Read until the peer closes or a full Content-Length body has arrived."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sep = data.find(b"\r\n\r\n")
        if sep >= 0:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:sep])
            if m and len(data) >= sep + 4 + int(m.group(1)):
                return data
        r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        try:
            b = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        data += b
    return data


# --------------------------------------------------------------------------- waiting

def wait_until(predicate, timeout: float = 10.0, what: str = "the condition",
               interval: float = 0.05, detail=None):
    """Polls predicate() until it returns something truthy, and returns that; past the
    deadline fails with `what` (and detail(), if given, e.g. the end of a log). The
    deadline bounds a hang; it is never the thing asserted."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(interval)


def wait_for_log(server, pattern: str, timeout: float = 10.0, count: int = 1) -> list[str]:
    """The server's log lines matching the regex `pattern`, once there are at least
    `count` of them (the access-log line is written when MHD reports the request
    complete, which may be just after the client has the response)."""
    rx = re.compile(pattern)

    def lines():
        found = [ln for ln in server.log_text().splitlines() if rx.search(ln)]
        return found if len(found) >= count else None

    return wait_until(lines, timeout, f"{count} log line(s) matching {pattern!r}",
                      detail=lambda: "--- log ---\n" + server.log_text()[-3000:])


def server_has_read(sock: socket.socket) -> bool:
    """True once the peer of this connected loopback TCP socket has accept()ed it and
    read everything sent so far (Linux /proc/net/tcp: the far end has an inode only
    once accepted; its rx_queue is what it has not read yet)."""
    here, there = sock.getsockname()[1], sock.getpeername()[1]
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            if local == there and remote == here:
                rx_queue = int(f[4].split(":")[1], 16)
                return f[9] != "0" and rx_queue == 0
    return False


# --------------------------------------------------------------------------- misc

def parse_time(s: str) -> _dt.datetime:
    assert TIME_RE.match(s), f"time {s!r} is not YYYY-mm-ddTHH:MM:SS.mmmZ"
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


def assert_recent(s: str, slack: float = 300.0):
    t = parse_time(s)
    now = _dt.datetime.now(_dt.timezone.utc)
    assert abs((now - t).total_seconds()) < slack, f"{s} is not close to now ({now.isoformat()})"


def media_url_re(port: int, user_id: str, kind: str, ext: str) -> re.Pattern:
    return re.compile(
        rf"^http://127\.0\.0\.1:{port}/media/users/{re.escape(user_id)}/{kind}/"
        rf"(\d{{8}})_(\d{{6}})_(\d{{3}})_[0-9a-f]{{32}}\.{ext}$")


def validation_entries(body) -> list[dict]:
    assert isinstance(body, dict) and set(body) == {"detail"}, f"not a FastAPI error: {body!r}"
    detail = body["detail"]
    assert isinstance(detail, list) and detail, f"422 detail must be a non-empty list: {body!r}"
    for e in detail:
        assert isinstance(e, dict), e
        assert {"type", "loc", "msg"} <= set(e), f"entry lacks type/loc/msg: {e!r}"
        assert isinstance(e["loc"], list) and isinstance(e["msg"], str), e
    return detail
