"""Slow and idle clients (SPEC section 15; issue 17): an idle connection, a trickled
request head and a trickled body are cut off after HTTP_TIMEOUT; hundreds of such
connections do not keep another client from being served; the number of connections
(HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_IP) and the bytes of bodies held in
memory (HTTP_BODY_BUDGET: 503 + Retry-After) are capped."""
import json
import select
import socket
import time

import requests

from helpers import new_user, parse_response, png_bytes, read_response_from, wait_until

# Generous bounds on waits: a hang fails the test, no timing is asserted.
CUT_WITHIN = 30.0


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=CUT_WITHIN)


def closed_by_server(s: socket.socket, trickle: bytes | None = None, every: float = 0.3) -> bool:
    """Waits for the server to close s, sending one byte of trickle every `every`
    seconds meanwhile; true once it has (EOF or reset), false after CUT_WITHIN."""
    deadline = time.monotonic() + CUT_WITHIN
    i = 0
    s.settimeout(every)
    while time.monotonic() < deadline:
        try:
            if s.recv(65536) == b"":
                return True
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return True
        if trickle is not None:
            try:
                s.send(trickle[i % len(trickle):i % len(trickle) + 1])
            except (ConnectionResetError, BrokenPipeError):
                return True
            i += 1
    return False


def test_idle_connection_is_closed(server_factory):
    srv = server_factory(env={"HTTP_TIMEOUT": "2"})
    with connect(srv.port) as s:
        assert closed_by_server(s)


def test_idle_kept_alive_connection_is_closed(server_factory):
    srv = server_factory(env={"HTTP_TIMEOUT": "2"})
    with connect(srv.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert parse_response(read_response_from(s)).status == 200
        assert closed_by_server(s)


def test_trickled_head_is_cut_off(server_factory):
    srv = server_factory(env={"HTTP_TIMEOUT": "2"})
    with connect(srv.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        # a byte at a time, never idle for MHD's own timeout
        assert closed_by_server(s, trickle=b"X-Slow: abcdefghijklmnopqrstuvwxyz\r\n")
    assert requests.get(srv.base + "/health", timeout=10).status_code == 200


def test_trickled_body_is_cut_off(server_factory):
    srv = server_factory(env={"HTTP_TIMEOUT": "2"})
    with connect(srv.port) as s:
        s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10000\r\n\r\n{")
        assert closed_by_server(s, trickle=b'"a"')
    assert "body trickling in" in srv.log_text()


def test_slow_but_steady_upload_is_served(server_factory):
    # a body that keeps arriving well above the floor rate is not cut, however long
    srv = server_factory(env={"HTTP_TIMEOUT": "1"})
    user = new_user()
    body = json.dumps({"expires_in": 600}).encode() + b" " * 20000
    with connect(srv.port) as s:
        s.sendall(b"POST /api/drawings/00000000-0000-4000-8000-000000000000/share HTTP/1.1\r\n"
                  b"Host: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + srv.token(user).encode() + b"\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 4000):  # 4 KB every 0.5 s, for 2.5 s
            s.sendall(body[i:i + 4000])
            time.sleep(0.5)
        r = parse_response(read_response_from(s))
    assert r.status == 404 and json.loads(r.body) == {"detail": "Drawing not found"}


def test_hundreds_of_slow_connections_do_not_starve_others(server_factory):
    srv = server_factory()  # the default HTTP_TIMEOUT (30 s) outlasts the test
    user = new_user()
    socks = []
    try:
        for i in range(300):
            s = connect(srv.port)
            if i % 3 == 1:  # a head begun, never finished
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            elif i % 3 == 2:  # an upload begun, never finished
                s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 60000\r\n\r\n{\"email\": ")
            socks.append(s)
        # others are still served: health, an upload, the gallery
        assert requests.get(srv.base + "/health", timeout=20).status_code == 200
        r = srv.upload(user, png_bytes(32, 32))
        assert r.status_code == 201, r.text
        g = srv.gallery(user)
        assert g["count"] == 1
        # and the slow ones are all still open (nothing was dropped to make room)
        for s in socks[:10]:
            s.setblocking(False)
            try:
                assert s.recv(1) != b""
            except BlockingIOError:
                pass
    finally:
        for s in socks:
            s.close()


def accepted(s: socket.socket) -> bool:
    """True once the server has accept()ed this loopback connection (/proc/net/tcp: the
    far end has an inode only then)."""
    here, there = s.getsockname()[1], s.getpeername()[1]
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        if int(f[1].rsplit(":", 1)[1], 16) == there and int(f[2].rsplit(":", 1)[1], 16) == here:
            return f[9] != "0"
    return False


def test_connection_cap(server_factory):
    # MHD shares the cap out among its threads, so it may bind a little below 20
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS": "20", "HTTP_THREADS": "2"})
    socks = [connect(srv.port) for _ in range(30)]
    try:
        for s in socks:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: sum(accepted(s) for s in socks) >= 18, timeout=CUT_WITHIN,
                   what="the server taking connections up to its cap")
        taken = [s for s in socks if accepted(s)]
        waiting = [s for s in socks if s not in taken]
        assert len(taken) <= 20 and waiting  # the rest wait in the kernel's backlog
        for s in taken:
            assert parse_response(read_response_from(s)).status == 200
            s.close()
        for s in waiting:  # slots free: the waiting ones are taken and served
            assert parse_response(read_response_from(s, timeout=CUT_WITHIN)).status == 200
    finally:
        for s in socks:
            s.close()


def test_per_address_cap(server_factory):
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS_PER_IP": "5"})
    socks = [connect(srv.port) for _ in range(5)]
    try:
        with connect(srv.port) as extra:
            assert closed_by_server(extra)
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: _health(srv), timeout=CUT_WITHIN, what="a served request after the cap")


def _health(srv) -> bool:
    try:
        return requests.get(srv.base + "/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def upload_head(srv, token: str, length: int, boundary: str = "B") -> bytes:
    return (b"POST /api/drawings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=" + boundary.encode()
            + b"\r\nContent-Length: %d\r\n\r\n" % length)


def test_body_budget_answers_503_with_retry_after(server_factory):
    srv = server_factory(env={"HTTP_BODY_BUDGET": "1MiB"})
    user = new_user()
    token = srv.token(user)
    medium = png_bytes(16, 16) + b"\0" * (200 * 1024)
    held = [None]

    def hold():
        # 900 KB declared and begun: held against the budget while it stays open
        if held[0] is not None:
            held[0].close()
        held[0] = connect(srv.port)
        held[0].sendall(upload_head(srv, token, 900 * 1024) + b"--B\r\n")

    def refused():
        # until the held head has been read, a 200 KB upload still fits (and is stored);
        # once it has, the upload is refused. If the upload's head was read first, the
        # held one was refused instead (its socket has the answer): hold again.
        r = srv.upload(user, medium, expect=None)
        if r.status_code != 201:
            return [r]  # (a list: a Response is falsy when not ok)
        if select.select([held[0]], [], [], 0)[0]:
            hold()
        return None

    hold()
    try:
        [r] = wait_until(refused, what="the held body counted")
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.json() == {"detail": "Too many uploads in progress; try again shortly"}
        # small requests and bodies that fit are still served
        assert srv.upload(user, png_bytes(16, 16)).status_code == 201
    finally:
        held[0].close()
    # the budget is given back when the held body goes away
    big = png_bytes(16, 16) + b"\0" * (300 * 1024)
    wait_until(lambda: srv.upload(user, big, expect=None).status_code == 201, timeout=CUT_WITHIN,
               what="the budget given back")
