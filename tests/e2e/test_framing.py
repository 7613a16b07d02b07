"""Strict request framing (SPEC section 15; issue 17): a request whose end two parties
could find in different places is refused with 400 {"detail": ...} before any handler
runs and before its body is read, and the connection is closed; so are control bytes in
header values and an HTTP/1.1 request without exactly one Host. libmicrohttpd 0.9.75
accepts all of these on its own."""
import json

import pytest

from helpers import new_user, parse_response, recv_all

import socket


def send_raw(port: int, request: bytes, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Sends request, reads until the server closes (the test fails if it does not
    within timeout: a refused request must not leave the connection open). Returns the
    bytes and whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = recv_all(s, timeout)
        try:
            s.settimeout(0.01)
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
        except ConnectionResetError:
            closed = True
    return data, closed


def assert_refused(port: int, request: bytes, detail: str):
    data, closed = send_raw(port, request)
    r = parse_response(data)
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json"
    assert json.loads(r.body) == {"detail": detail}
    assert (r.header("Connection") or "").lower() == "close"
    assert closed, "the connection stayed open after a framing error"
    # one answer only: nothing after the first body was read as a second request
    assert data.count(b"\r\nX-Request-Id: ") == 1, data


LOGIN = b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
SMUGGLED = b"GET /api/auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_conflicting_content_lengths(server):
    body = b"{}" + SMUGGLED
    assert_refused(server.port, LOGIN + b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n" % len(body)
                   + body, "More than one Content-Length header")


def test_equal_content_lengths_are_refused_too(server):
    assert_refused(server.port, LOGIN + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
                   "More than one Content-Length header")


def test_transfer_encoding_with_content_length(server):
    assert_refused(server.port, LOGIN + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"0\r\n\r\n" + SMUGGLED, "Transfer-Encoding together with Content-Length")


def test_refused_before_authentication_and_routing(server):
    # framing comes first: no 401 for a protected route, no 404 for an unknown one
    for target in (b"/api/drawings", b"/no/such/route"):
        assert_refused(server.port, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
                       "More than one Content-Length header")


@pytest.mark.parametrize("value", [b"a\x01b", b"a\rb", b"a\x7fb", b"a\x1bb"])
def test_control_bytes_in_a_header_value(server, value):
    assert_refused(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Note: " + value + b"\r\n\r\n",
                   "A control character in a header value")


def test_tab_and_high_bytes_in_a_header_value_are_fine(server):
    data, _ = send_raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Note: a\tb\xe9\r\n"
                       b"Connection: close\r\n\r\n")
    assert parse_response(data).status == 200


def test_http11_without_host(server):
    assert_refused(server.port, b"GET /health HTTP/1.1\r\n\r\n",
                   "HTTP/1.1 request without a Host header")


def test_http11_with_two_hosts(server):
    assert_refused(server.port, b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                   "More than one Host header")


def test_http10_without_host_is_served(server):
    data, _ = send_raw(server.port, b"GET /health HTTP/1.0\r\n\r\n")
    r = parse_response(data)
    assert r.status == 200 and json.loads(r.body)["status"] == "ok"


def test_one_content_length_still_works(server):
    user = new_user()
    body = json.dumps({"expires_in": 600}).encode()
    data, _ = send_raw(server.port, b"POST /api/drawings/00000000-0000-4000-8000-000000000000/share"
                       b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                       b"Authorization: Bearer " + server.token(user).encode() + b"\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body) + body)
    r = parse_response(data)
    assert r.status == 404 and json.loads(r.body) == {"detail": "Drawing not found"}, r
