"""Operating the server (SPEC §14): GET /metrics (families from start-up, counts that
move, route templates only, promtool-clean, METRICS_TOKEN), request ids in and out,
the access log and LOG_FORMAT=json (the request id on lines written by the worker
pools and the HTTP client's thread), graceful shutdown with an edit in flight, and
the lean start."""
import concurrent.futures
import json
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from helpers import new_user, png_bytes, raw_request, wait_for_log, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fakes"))
import gemini  # noqa: E402  (the fake)

KEY = "test-gemini-key"
FAMILIES = {
    "novadraw_http_requests_total": "counter",
    "novadraw_http_request_duration_seconds": "histogram",
    "novadraw_edits_in_flight": "gauge",
    "novadraw_edit_duration_seconds": "histogram",
    "novadraw_transcriptions_total": "counter",
    "novadraw_storage_operations_total": "counter",
    "novadraw_cache_lookups_total": "counter",
    "novadraw_jobs_pending": "gauge",
    "novadraw_build_info": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def parse(text: str) -> dict:
    """{(name, frozenset(labels)): value} of the exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(server, **kw) -> dict:
    r = server.get("/metrics", **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def promtool_check(text: str):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/deps.sh installs Debian's prometheus package"
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------ metrics

def test_every_family_is_listed_from_start_up(fresh_server):
    r = fresh_server.get("/metrics")
    assert r.status_code == 200
    for name, kind in FAMILIES.items():
        assert f"# HELP {name} " in r.text, name
        assert f"# TYPE {name} {kind}\n" in r.text, name
    samples = parse(r.text)
    assert value(samples, "novadraw_edits_in_flight") == 0
    assert value(samples, "novadraw_jobs_pending", kind="upload") == 0
    assert value(samples, "novadraw_jobs_pending", kind="delete") == 0
    assert [k for k in samples if k[0] == "novadraw_build_info"]
    assert value(samples, "process_resident_memory_bytes") > 1e6
    assert value(samples, "process_open_fds") > 2
    assert value(samples, "process_max_fds") >= value(samples, "process_open_fds")
    assert abs(value(samples, "process_start_time_seconds") - time.time()) < 600
    promtool_check(r.text)


def test_counts_move_with_route_templates_only(server):
    user = new_user()
    before = scrape(server)
    for _ in range(3):
        assert server.get("/health").status_code == 200
    secret_path = "/no-such-" + uuid.uuid4().hex
    assert server.get(secret_path).status_code == 404
    assert server.request("DELETE", "/health").status_code == 405
    did = str(uuid.uuid4())
    assert server.get("/api/drawings/" + did, user).status_code == 404
    r = server.upload(user, png_bytes(64, 64))
    assert r.status_code == 201, r.text
    r = server.request("POST", "/api/edit-image", user,
                       files={"file": ("d.png", png_bytes(64, 64), "image/png")},
                       data={"prompt": "make it black and white"})
    assert r.status_code == 200, r.text
    # the access line (and the count) comes when MHD reports the request complete
    wait_for_log(server, "req=" + re.escape(r.headers["X-Request-Id"]) + " request ")

    text = server.get("/metrics").text
    after = parse(text)
    req = "novadraw_http_requests_total"
    assert value(after, req, method="GET", route="/health", status="200") - \
        value(before, req, method="GET", route="/health", status="200") == 3
    assert value(after, req, method="GET", route="unmatched", status="404") - \
        value(before, req, method="GET", route="unmatched", status="404") == 1
    assert value(after, req, method="DELETE", route="unmatched", status="405") - \
        value(before, req, method="DELETE", route="unmatched", status="405") == 1
    assert value(after, req, method="GET", route="/api/drawings/{drawing_id}", status="404") - \
        value(before, req, method="GET", route="/api/drawings/{drawing_id}", status="404") == 1
    assert value(after, req, method="POST", route="/api/drawings", status="201") - \
        value(before, req, method="POST", route="/api/drawings", status="201") == 1
    h = "novadraw_http_request_duration_seconds"
    assert value(after, h + "_count", route="/health") - value(before, h + "_count", route="/health") == 3
    assert value(after, h + "_bucket", route="/health", le="+Inf") == value(after, h + "_count", route="/health")
    assert value(after, h + "_bucket", route="/health", le="10") <= value(after, h + "_count", route="/health")
    # an edit: its duration by editor, nothing left in flight, storage puts counted
    e = "novadraw_edit_duration_seconds"
    assert value(after, e + "_count", editor="local") - value(before, e + "_count", editor="local") == 1
    assert value(after, "novadraw_edits_in_flight") == 0
    s = "novadraw_storage_operations_total"
    assert value(after, s, op="put", result="ok") - value(before, s, op="put", result="ok") >= 3
    # bounded cardinality: no raw path, id or user in any label
    assert secret_path not in text and did not in text and user not in text
    promtool_check(text)


def test_metrics_token(server_factory):
    token = "metrics-" + uuid.uuid4().hex
    s = server_factory(env={"METRICS_TOKEN": token})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + token[:-1]},
                    {"Authorization": "Bearer " + token + "x"}, {"Authorization": "Basic " + token},
                    {"Authorization": token}):
        r = s.get("/metrics", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json() == {"detail": "Not authenticated"}
        assert "novadraw_" not in r.text
    r = s.get("/metrics", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200 and "novadraw_http_requests_total" in r.text
    assert s.get("/health").status_code == 200  # the token guards /metrics only
    s.stop_and_check()
    assert token not in s.log_text()


# ------------------------------------------------------------------- request ids

def test_a_good_request_id_is_kept_and_logged(server):
    rid = "client-" + uuid.uuid4().hex[:12] + ".v1_x"
    for path, status in (("/health", 200), ("/nope", 404), ("/api/drawings/gallery", 401)):
        r = server.get(path, headers={"X-Request-Id": rid})
        assert r.status_code == status
        assert r.headers["X-Request-Id"] == rid
    r = server.request("DELETE", "/health", headers={"X-Request-Id": rid})
    assert r.status_code == 405 and r.headers["X-Request-Id"] == rid
    wait_for_log(server, "req=" + re.escape(rid) + " ", count=4)
    long_ok = "a" * 64
    assert server.get("/health", headers={"X-Request-Id": long_ok}).headers["X-Request-Id"] == long_ok


@pytest.mark.parametrize("bad", ["a" * 65, "x" * 10240, "has space", "semi;colon", "uni\u00e9",
                                 "quote\"d", "a/b", "{json}"])
def test_a_bad_request_id_is_replaced(server, bad):
    r = server.get("/health", headers={"X-Request-Id": bad.encode("utf-8")})
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    assert rid != bad and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", rid)
    wait_for_log(server, "req=" + re.escape(rid) + " ")
    assert bad not in server.log_text()


def test_request_id_with_crlf_cannot_inject_a_log_line(server):
    forged = "2026-01-01T00:00:00.000Z error FORGED"
    # MHD refuses a bare CR in a header; an obs-fold or a LF-split header is the attempt
    raw = (f"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: ok\r\n {forged}\r\n"
           "Connection: close\r\n\r\n").encode()
    resp = raw_request(server.port, raw)
    assert resp.status in (200, 400), resp
    rid = server.get("/no-such-" + "%0d%0a" + uuid.uuid4().hex).headers["X-Request-Id"]
    wait_for_log(server, "req=" + re.escape(rid) + " ")
    assert not [ln for ln in server.log_text().splitlines() if ln.startswith(forged)]


def test_413_and_bad_body_carry_the_request_id(server):
    user = new_user()
    rid = "big-" + uuid.uuid4().hex[:8]
    r = server.request("POST", "/api/auth/login", headers={"X-Request-Id": rid,
                                                           "Content-Type": "application/json"},
                       data=b"{" + b" " * (200 * 1024) + b"}")
    assert r.status_code == 413, r.text
    assert r.headers["X-Request-Id"] == rid
    r = server.request("POST", "/api/drawings", user, headers={"X-Request-Id": rid},
                       data=b"--x\r\nbroken", )
    assert r.headers["X-Request-Id"] == rid


# ---------------------------------------------------------------------- logging

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


def edit(server, user, prompt, **kw):
    return server.request("POST", "/api/edit-image", user,
                          files={"file": ("d.png", png_bytes(48, 48), "image/png")},
                          data={"prompt": prompt}, **kw)


def test_json_logs_name_the_request_on_every_thread(server_factory, fake):
    s = server_factory(env=gemini_env(fake, LOG_FORMAT="json", LOG_LEVEL="debug"))
    user = new_user()
    rid = "json-" + uuid.uuid4().hex[:10]
    # the model fails once: the retry is logged on the HTTP client's thread, the
    # edit's steps run on the worker pools
    r = edit(s, user, "make it blue [fake:status=503] [fake:fail_times=1] " + rid,
             headers={"X-Request-Id": rid})
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-Id"] == rid
    wait_for_log(s, '"msg":"request"' + ".*" + re.escape(rid))
    records = [json.loads(ln) for ln in s.log_text().splitlines() if ln.strip()]
    for rec in records:  # every line is one object with the three fields
        assert isinstance(rec["ts"], str) and rec["level"] in ("debug", "info", "warn", "error")
        assert isinstance(rec["msg"], str)
    mine = [rec for rec in records if rec.get("request_id") == rid]
    access = [rec for rec in mine if rec["msg"] == "request"]
    assert len(access) == 1, mine
    a = access[0]
    assert a["method"] == "POST" and a["route"] == "/api/edit-image" and a["status"] == 200
    assert a["user"] == user and a["bytes"] > 0 and a["ms"] >= 0
    retry = [rec for rec in mine if "attempt 1 of" in rec["msg"]]
    assert retry, [rec["msg"] for rec in mine]  # written by the libcurl thread
    assert KEY not in s.log_text()


def test_json_log_escapes_client_text(server_factory):
    s = server_factory(env={"LOG_FORMAT": "json"})
    user = new_user()
    # a JSON body's hostile strings end up in no log line unescaped
    r = s.request("POST", "/api/auth/login", headers={"Content-Type": "application/json"},
                  data=json.dumps({"email": "a\"}\n{\"forged\":1}@x.io", "password": "p" * 9}))
    assert r.status_code in (401, 422)
    wait_for_log(s, re.escape(r.headers["X-Request-Id"]))
    assert s.get("/api/drawings/" + "x\"y", user).status_code == 422
    for ln in s.log_text().splitlines():
        rec = json.loads(ln)
        assert "forged" not in rec


def test_access_log_off(server_factory):
    s = server_factory(env={"ACCESS_LOG": "off"})
    rid = s.get("/health").headers["X-Request-Id"]
    assert s.get("/metrics").status_code == 200  # counted all the same
    s.stop_and_check()
    assert rid not in s.log_text()
    assert " request method=" not in s.log_text()


# --------------------------------------------------------------------- shutdown

def test_sigterm_lets_a_slow_edit_finish(server_factory, fake):
    s = server_factory(env=gemini_env(fake, SHUTDOWN_TIMEOUT=30))
    user = new_user()
    marker = uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        slow = ex.submit(edit, s, user, f"make it red [fake:delay_ms=2500] {marker}")
        wait_until(lambda: [q for q in fake.requests if marker in (q.get("prompt") or "")], 15,
                   "the edit to reach the model")
        s.proc.send_signal(signal.SIGTERM)
        wait_for_log(s, "SIGTERM received")
        # while it drains: /health says so, new work is refused, the edit goes on
        r = s.get("/health")
        assert r.status_code == 503 and r.json() == {"status": "shutting down"}
        assert r.headers.get("X-Request-Id")
        r = s.get("/api/drawings/gallery", user)
        assert r.status_code == 503 and r.json() == {"detail": "The server is shutting down"}
        assert s.proc.poll() is None
        r = slow.result(30)
    assert r.status_code == 200, r.text
    assert r.json()["result_image"]
    assert s.proc.wait(30) == 0, s.log_text()[-3000:]
    s.stop_and_check()


def test_second_signal_exits_at_once(server_factory, fake):
    s = server_factory(env=gemini_env(fake, SHUTDOWN_TIMEOUT=60))
    user = new_user()
    marker = uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        slow = ex.submit(edit, s, user, f"make it red [fake:delay_ms=20000] {marker}")
        wait_until(lambda: [q for q in fake.requests if marker in (q.get("prompt") or "")], 15,
                   "the edit to reach the model")
        s.proc.send_signal(signal.SIGTERM)
        wait_for_log(s, "SIGTERM received")
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        rc = s.proc.wait(10)
        assert time.monotonic() - t0 < 5
        assert rc == 128 + signal.SIGTERM
        with pytest.raises(Exception):
            slow.result(10).raise_for_status()
    s.returncode = rc
    s._close_files()


# ---------------------------------------------------------------------- lean start

def test_lean_start_loads_speech_on_first_use(server_factory):
    s = server_factory(env={"TRANSCRIBER": "local"})
    wait_for_log(s, "loaded on first use")
    rss_kb = next(int(ln.split()[1]) for ln in open(f"/proc/{s.proc.pid}/status")
                  if ln.startswith("VmRSS:"))
    # the decoders are ~100 MB each; without them the process idles far below that
    assert rss_kb < 100 * 1024, rss_kb
    assert "decoder 1 loaded" not in s.log_text()


# ------------------------------------------------------------------ systemd unit

def test_systemd_unit_verifies(novadraw_bin, tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: scripts/deps.sh installs systemd"
    repo = pathlib.Path(__file__).resolve().parents[2]
    unit = (repo / "contrib" / "novadraw.service").read_text()
    assert "ExecStart=/usr/local/bin/novadraw serve" in unit
    for setting in ("DynamicUser=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/novadraw",
                    "NoNewPrivileges=yes", "StateDirectory=novadraw"):
        assert setting in unit, setting
    # verify checks that ExecStart's binary exists: point it at this build
    (tmp_path / "novadraw.service").write_text(
        unit.replace("/usr/local/bin/novadraw", str(pathlib.Path(novadraw_bin).resolve())))
    r = subprocess.run([analyze, "verify", str(tmp_path / "novadraw.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "novadraw.service" not in r.stderr, r.stdout + r.stderr


def test_kept_bodies_and_search_counts_are_used_and_counted(server):
    """The body cache and the kept search counts answer repeated requests (their hits
    are counted), and the first request after a change misses."""
    user = new_user()
    r = server.request("POST", "/api/edit-image", user,
                       files={"file": ("d.png", png_bytes(16, 16), "image/png")},
                       data={"prompt": "add a sepia tone"})
    assert r.status_code == 200, r.text
    before = scrape(server)
    first = server.get("/api/drawings/gallery", user, params={"q": "sepia"})
    again = server.get("/api/drawings/gallery", user, params={"q": "sepia"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and first.json()["count"] == 1
    other_page = server.get("/api/drawings/gallery", user, params={"q": "sepia", "page": 2})
    assert other_page.json()["count"] == 1 and other_page.json()["data"] == []
    after = scrape(server)

    def moved(cache, result):
        return (value(after, "novadraw_cache_lookups_total", cache=cache, result=result) -
                value(before, "novadraw_cache_lookups_total", cache=cache, result=result))

    assert moved("body", "miss") == 2  # the first page, then page 2
    assert moved("body", "hit") == 1  # the first page again
    assert moved("search_count", "miss") == 1  # counted once for page 1
    assert moved("search_count", "hit") == 1  # page 2: the same count, kept
    # a change: the next page is written again and counted again
    did = first.json()["data"][0]["id"]
    assert server.delete(f"/api/drawings/{did}", user).status_code == 200
    before = scrape(server)
    gone = server.get("/api/drawings/gallery", user, params={"q": "sepia"})
    assert gone.json()["count"] == 0 and gone.json()["data"] == []
    after = scrape(server)
    assert moved("body", "miss") == 1 and moved("body", "hit") == 0
    assert moved("search_count", "hit") == 0
