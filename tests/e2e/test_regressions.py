"""One test per bug found in review of the foundation (h2o's habit: a fixed bug keeps
its test). Each names what used to go wrong."""
import json
import re
import socket
import time

from helpers import multipart, new_user, png_bytes, raw_get, validation_entries, wait_for_log


def test_oversized_tutorial_id_is_422_not_ignored(server, user):
    # a tutorial_id over the 64 KiB field cap used to be dropped and read as "absent"
    body, ctype = multipart([("file", ("a.png", png_bytes(8, 8), "image/png")),
                             ("tutorial_id", "a" * 70000)])
    before = server.stats(user)["total_drawings"]
    r = server.request("POST", "/api/drawings", user, data=body,
                       headers={"Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in validation_entries(r.json())] == [["body", "tutorial_id"]]
    assert server.stats(user)["total_drawings"] == before


def test_just_expired_token_is_refused(server, user):
    # exp had a 30 s leeway; PyJWT (the original's library) has none
    r = server.get("/api/drawings/stats/summary",
                   headers=server.auth(user, exp=int(time.time()) - 5))
    assert r.status_code == 401
    assert r.json() == {"detail": "Could not validate credentials"}


def test_path_cannot_forge_log_lines(server):
    r = raw_get(server.port, "/media/x%0a2026-01-01T00:00:00.000Z%20error%20FORGED%1b[31m.png")
    assert r.status == 404
    rid = r.header("X-Request-Id")
    wait_for_log(server, "req=" + re.escape(rid) + " ")  # the request's own line is written
    log = server.log_text()
    lines = log.splitlines()
    assert not any(line.startswith("2026-01-01T00:00:00.000Z") for line in lines)
    assert "\x1b" not in log
    # the access line names the route template, never the raw path (SPEC §14)
    assert "FORGED" not in log
    (line,) = [line for line in lines if f"req={rid} " in line]
    assert "route=/media/{key*} " in line and "status=404" in line, line


def test_endless_chunked_body_is_cut_off(server):
    # a chunked body over the cap used to be drained forever
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
    sent = 0
    closed = False
    try:
        for _ in range(200):  # at most 200 MiB; the server gives up long before
            s.sendall(chunk)
            sent += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        closed = True
    finally:
        s.close()
    assert closed, f"server read {sent} MiB without closing"
    assert sent < 100
    assert server.get("/health").status_code == 200


def test_one_byte_boundary_is_a_parse_error(server, user):
    # MHD refuses a one-byte boundary; that used to read as "no file" (422)
    body, ctype = multipart([("file", ("a.png", png_bytes(8, 8), "image/png"))], boundary="B")
    r = server.request("POST", "/api/drawings", user, data=body,
                       headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "There was an error parsing the body"}


def test_not_modified_keeps_the_length_of_the_object(server, user):
    url = server.upload(user, png_bytes(20, 20)).json()["uploaded_image_url"]
    full = server.http.get(url)
    r = server.http.get(url, headers={"If-None-Match": full.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    assert r.headers.get("Content-Length") in (None, str(len(full.content)))


def test_last_repeated_query_value_wins(server):
    user = new_user()
    for _ in range(3):
        server.upload(user, png_bytes(4, 4))
    r = server.get("/api/drawings/gallery?limit=1&limit=2", user)
    assert r.status_code == 200
    assert r.json()["limit"] == 2 and len(r.json()["data"]) == 2


def test_invalid_utf8_input_keeps_its_422_entry(server, user):
    # an entry whose input was not UTF-8 was dropped (jansson refuses such strings):
    # ?page=%ff answered 422 {"detail": []}; now the input shows U+FFFD, as Starlette
    # decodes it
    r = raw_get(server.port, "/api/drawings/gallery?page=%ff&limit=%c3%28",
                headers=server.auth(user))
    assert r.status == 422, r
    assert json.loads(r.body) == {"detail": [
        {"type": "int_parsing", "loc": ["query", "page"], "input": "\ufffd",
         "msg": "Input should be a valid integer, unable to parse string as an integer"},
        {"type": "int_parsing", "loc": ["query", "limit"], "input": "\ufffd(",
         "msg": "Input should be a valid integer, unable to parse string as an integer"}]}
    r = raw_get(server.port, "/api/drawings/%ff%fe", headers=server.auth(user))
    assert r.status == 422, r
    assert json.loads(r.body) == {"detail": [
        {"type": "uuid_parsing", "loc": ["path", "drawing_id"], "input": "\ufffd\ufffd",
         "msg": "Input should be a valid UUID"}]}
