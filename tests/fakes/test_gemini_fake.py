"""Self-test of the fake Gemini server (tests/fakes/gemini.py): the wire format, auth,
every knob (server-wide, per prompt marker and over the control endpoints), HTTP
details a C client relies on (keep-alive, chunked bodies, 100-continue) and that a
thousand delayed requests are served concurrently.

Run: /usr/bin/python3 -m pytest -q tests/fakes
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gemini  # noqa: E402
from fakeserver import raise_nofile_limit  # noqa: E402

KEY = "test-gemini-key"
MODEL = "gemini-2.5-flash-image"
PATH = f"/v1beta/models/{MODEL}:generateContent"


def colorful_png(side: int = 64) -> bytes:
    img = Image.merge("RGB", [Image.linear_gradient("L").resize((side, side)),
                              Image.radial_gradient("L").resize((side, side)),
                              Image.linear_gradient("L").rotate(90).resize((side, side))])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


PNG = colorful_png()


def body(prompt: str = "make it gray", image: bytes | None = PNG, camel: bool = False) -> dict:
    parts = [{"text": prompt}]
    if image is not None:
        data = base64.b64encode(image).decode()
        parts.append({"inlineData": {"mimeType": "image/png", "data": data}} if camel else
                     {"inline_data": {"mime_type": "image/png", "data": data}})
    return {"contents": [{"parts": parts}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}


@pytest.fixture(scope="module")
def server():
    raise_nofile_limit()
    fake = gemini.start_in_thread()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


def post(fake, doc=None, key=KEY, path=PATH, **kw):
    headers = {"x-goog-api-key": key} if key is not None else {}
    return requests.post(fake.url + path, json=body() if doc is None else doc,
                         headers=headers, timeout=30, **kw)


def parts_of(resp) -> list:
    doc = resp.json()
    return doc["candidates"][0]["content"]["parts"]


def decode(part) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"])))


def assert_google_error(resp, code: int, status: str):
    assert resp.status_code == code
    err = resp.json()["error"]
    assert err["code"] == code and err["status"] == status and err["message"]


# ------------------------------------------------------------------- wire format

def test_success_is_googles_shape_with_a_grayscale_edit(fake):
    r = post(fake)
    assert r.status_code == 200
    doc = r.json()
    cand = doc["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    assert cand["content"]["role"] == "model"
    text, image = cand["content"]["parts"]
    assert text == {"text": "Here is your edited image."}
    assert image["inlineData"]["mimeType"] == "image/png"
    edited = decode(image)
    assert edited.mode == "L" and edited.size == (64, 64)
    assert doc["modelVersion"] == MODEL
    assert doc["usageMetadata"]["totalTokenCount"] > 0


def test_request_is_recorded_with_lowercase_headers_and_parsed_body(fake):
    post(fake, body("record me"))
    (rec,) = fake.requests
    assert rec["method"] == "POST" and rec["path"] == PATH and rec["query"] == {}
    assert rec["headers"]["x-goog-api-key"] == KEY
    assert rec["body"]["contents"][0]["parts"][0]["text"] == "record me"
    assert rec["prompt"] == "record me" and rec["answer"] == 200
    assert rec["images"][0]["bytes"] == len(PNG) and rec["images"][0]["size"] == (64, 64)


def test_camel_case_request_is_accepted(fake):
    r = post(fake, body(camel=True))
    assert r.status_code == 200 and decode(parts_of(r)[1]).mode == "L"


def test_text_only_request_gets_a_text_only_answer(fake):
    r = post(fake, body(image=None))
    assert r.status_code == 200 and parts_of(r) == [{"text": "Here is your edited image."}]


@pytest.mark.parametrize("doc", [
    "not json",
    {"contents": []},
    {"contents": [{"parts": []}]},
    {"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "!!"}}]}]},
    {"contents": [{"parts": [{"txt": "typo"}]}]},
    {"contnets": [{"parts": [{"text": "typo"}]}]},
    {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseModalities": ["PNG"]}},
])
def test_malformed_request_is_invalid_argument(fake, doc):
    r = requests.post(fake.url + PATH, headers={"x-goog-api-key": KEY}, timeout=10,
                      **({"data": doc} if isinstance(doc, str) else {"json": doc}))
    assert_google_error(r, 400, "INVALID_ARGUMENT")


def test_undecodable_input_image_is_invalid_argument(fake):
    r = post(fake, body(image=b"\x89PNG\r\n\x1a\ntruncated"))
    assert_google_error(r, 400, "INVALID_ARGUMENT")


def test_unknown_route_and_method_are_not_found(fake):
    assert_google_error(post(fake, path="/v1/models/x:predict"), 404, "NOT_FOUND")
    r = requests.get(fake.url + PATH, headers={"x-goog-api-key": KEY}, timeout=10)
    assert_google_error(r, 404, "NOT_FOUND")


# -------------------------------------------------------------------------- auth

def test_missing_key_is_permission_denied(fake):
    assert_google_error(post(fake, key=None), 403, "PERMISSION_DENIED")


def test_wrong_key_is_invalid_argument_and_not_echoed(fake):
    r = post(fake, key="wrong-key-123")
    assert_google_error(r, 400, "INVALID_ARGUMENT")
    assert "wrong-key-123" not in r.text


def test_key_in_the_url_is_refused_and_recorded(fake):
    r = post(fake, path=PATH + f"?key={KEY}")
    assert_google_error(r, 400, "INVALID_ARGUMENT")
    (rec,) = fake.requests
    assert rec["query"] == {"key": KEY} and rec["answer"] == 400


def test_key_is_configurable(fake):
    fake.set(key="other")
    assert post(fake, key="other").status_code == 200
    assert post(fake).status_code == 400


# ------------------------------------------------------------------------- knobs

@pytest.mark.parametrize("code,status", [(429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"),
                                         (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
                                         (400, "INVALID_ARGUMENT")])
def test_status_knob_by_marker_and_by_set(fake, code, status):
    assert_google_error(post(fake, body(f"edit [fake:status={code}]")), code, status)
    fake.set(status=code)
    assert_google_error(post(fake), code, status)


def test_fail_times_fails_then_succeeds_per_prompt(fake):
    prompt = "retry me [fake:status=503][fake:fail_times=2]"
    codes = [post(fake, body(prompt)).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    other = "retry me too [fake:status=429][fake:fail_times=1]"
    assert [post(fake, body(other)).status_code for _ in range(2)] == [429, 200]


def test_fail_times_also_gates_delay(fake):
    prompt = "slow once [fake:delay_ms=400][fake:fail_times=1]"
    t0 = time.monotonic()
    post(fake, body(prompt))
    t1 = time.monotonic()
    post(fake, body(prompt))
    t2 = time.monotonic()
    assert t1 - t0 >= 0.4 and t2 - t1 < 0.3


def test_block(fake):
    r = post(fake, body("[fake:block=PROHIBITED_CONTENT] edit"))
    doc = r.json()
    assert r.status_code == 200 and "candidates" not in doc
    assert doc["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
    assert post(fake, body("[fake:block]")).json()["promptFeedback"]["blockReason"] == "SAFETY"


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "NO_IMAGE"])
def test_finish_reason_gives_a_text_only_candidate(fake, reason):
    r = post(fake, body(f"edit [fake:finish_reason={reason}]"))
    cand = r.json()["candidates"][0]
    assert r.status_code == 200 and cand["finishReason"] == reason
    assert [list(p) for p in cand["content"]["parts"]] == [["text"]]


def test_no_image(fake):
    r = post(fake, body("[fake:no_image]"))
    assert r.json()["candidates"][0]["finishReason"] == "STOP"
    assert all("inlineData" not in p for p in parts_of(r))


def test_text_first_off_puts_the_image_first(fake):
    parts = parts_of(post(fake, body("[fake:text_first=0]")))
    assert "inlineData" in parts[0] and "text" in parts[1]


def test_thought_parts_carry_a_different_decoy_image(fake):
    parts = parts_of(post(fake, body("[fake:thought_parts=1]")))
    thoughts = [p for p in parts if p.get("thought")]
    real = [p for p in parts if not p.get("thought") and "inlineData" in p]
    assert parts[0].get("thought") and len(thoughts) == 2 and len(real) == 1
    decoy = next(p for p in thoughts if "inlineData" in p)
    assert decode(decoy).mode == "RGB" and decode(real[0]).mode == "L"
    assert parts.index(decoy) < parts.index(real[0])


def test_malformed_body(fake):
    r = post(fake, body("[fake:malformed]"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_drop_closes_without_an_answer(fake):
    with pytest.raises(requests.ConnectionError):
        post(fake, body("[fake:drop]"))
    assert fake.requests[-1]["answer"] == "dropped"


def test_not_image(fake):
    part = parts_of(post(fake, body("[fake:not_image]")))[1]
    assert part["inlineData"]["mimeType"] == "image/png"
    with pytest.raises(Exception):
        decode(part).load()


def test_huge_image_is_a_small_decompression_bomb(fake):
    part = parts_of(post(fake, body("[fake:huge_image]")))[1]
    data = base64.b64decode(part["inlineData"]["data"])
    assert len(data) < 100_000
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[16:24] == (20000).to_bytes(4, "big") * 2


def test_delay_and_text_knobs(fake):
    t0 = time.monotonic()
    r = post(fake, body("[fake:delay_ms=300][fake:text=done!]"))
    assert time.monotonic() - t0 >= 0.3 and parts_of(r)[0] == {"text": "done!"}


@pytest.mark.parametrize("marker", ["[fake:nope=1]", "[fake:delay_ms=soon]", "[fake:delay_ms]",
                                    "[fake:key=x]", "[fake:status=9999]"])
def test_bad_marker_is_invalid_argument(fake, marker):
    assert_google_error(post(fake, body(marker)), 400, "INVALID_ARGUMENT")


def test_start_knobs_and_set(fake):
    with gemini.start_in_thread(status=429) as other:
        assert post(other).status_code == 429
        other.set(status=0)
        assert post(other).status_code == 200
    with pytest.raises(ValueError):
        fake.set(bogus=1)


# --------------------------------------------------------------- control endpoints

def test_control_config_requests_and_reset(fake):
    r = requests.post(fake.url + "/__fake/config", json={"status": 503, "delay_ms": 0},
                      timeout=10)
    assert r.status_code == 200 and r.json()["status"] == 503
    assert requests.get(fake.url + "/__fake/config", timeout=10).json()["status"] == 503
    assert post(fake).status_code == 503
    recs = requests.get(fake.url + "/__fake/requests", timeout=10).json()["requests"]
    (rec,) = recs
    data = rec["body"]["contents"][0]["parts"][1]["inline_data"]["data"]
    assert data.startswith("<") and rec["images"][0]["bytes"] == len(PNG)
    assert requests.post(fake.url + "/__fake/reset", timeout=10).status_code == 200
    assert fake.requests == [] and post(fake).status_code == 200
    bad = requests.post(fake.url + "/__fake/config", json={"nope": 1}, timeout=10)
    assert bad.status_code == 400


def test_record_bodies_off_keeps_only_sizes(fake):
    fake.set(record_bodies=False)
    post(fake)
    part = fake.requests[0]["body"]["contents"][0]["parts"][1]
    assert part["inline_data"]["data"].startswith("<")


# ------------------------------------------------------------------- HTTP details

def raw_exchange(fake, payload: bytes, reads: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as s:
        s.sendall(payload)
        out = b""
        while out.count(b"HTTP/1.1 ") < reads:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def raw_post(doc: bytes, extra: str = "") -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {KEY}\r\n"
            f"Content-Type: application/json\r\n{extra}").encode()


def test_chunked_request_body(fake):
    data = json.dumps(body()).encode()
    r = requests.post(fake.url + PATH, data=iter([data[:100], data[100:]]),
                      headers={"x-goog-api-key": KEY}, timeout=10)
    assert r.status_code == 200 and "chunked" in fake.requests[0]["headers"]["transfer-encoding"]


def test_expect_continue_and_keep_alive(fake):
    data = json.dumps(body()).encode()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as s:
        s.sendall(raw_post(data, f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n"))
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(data)
        first = s.recv(1 << 20)
        assert first.startswith(b"HTTP/1.1 200 ")
        # the same connection serves a second request
        s.sendall(b"GET /__fake/config HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_garbage_does_not_hurt_the_server(fake):
    for junk in (b"\x00\xff garbage\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                 b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 b"GET / HTTP/1.1\r\n" + b"a" * 70000):
        out = raw_exchange(fake, junk)
        assert out == b"" or out.startswith(b"HTTP/1.1 4")
    with socket.create_connection(("127.0.0.1", fake.port)) as s:
        s.sendall(raw_post(b"", "Content-Length: 100\r\n\r\n{"))  # then hang up mid-body
    assert post(fake).status_code == 200


def test_a_thousand_delayed_requests_run_concurrently(fake):
    fake.set(delay_ms=1000)
    data = json.dumps(body(image=colorful_png(16))).encode()
    request = raw_post(data, f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n") + data

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
        writer.write(request)
        reply = await reader.read()
        writer.close()
        return reply.split(b" ", 2)[1]

    async def burst():
        return await asyncio.gather(*(one() for _ in range(1000)))

    t0 = time.monotonic()
    codes = asyncio.run(burst())
    assert codes == [b"200"] * 1000
    assert time.monotonic() - t0 < 6


# ---------------------------------------------------------------------------- CLI

def test_cli_writes_port_file_prints_nothing_and_stops_on_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "gemini.py"), "--port", "0",
                             "--port-file", str(port_file), "--set", "status=504"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        port = int(port_file.read_text())
        r = requests.post(f"http://127.0.0.1:{port}{PATH}", json=body(),
                          headers={"x-goog-api-key": KEY}, timeout=10)
        assert_google_error(r, 504, "DEADLINE_EXCEEDED")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == b"" and err == b""


# -------------------------------------------------------------- audio (voice prompts)

TRANSCRIBE = "Transcribe this audio verbatim. Answer with the transcript only."


def wav_bytes(seconds: float = 0.5, amplitude: int = 8000, freq: int = 440) -> bytes:
    import array
    import math
    import wave
    rate = 16000
    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate))
                                for i in range(int(seconds * rate))))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


TONE = wav_bytes()
SILENT = wav_bytes(1.0, amplitude=40)


def audio_body(audio: bytes = TONE, mime_type: str = "audio/wav", prompt: str = TRANSCRIBE,
               camel: bool = False) -> dict:
    data = base64.b64encode(audio).decode()
    blob = ({"inlineData": {"mimeType": mime_type, "data": data}} if camel else
            {"inline_data": {"mime_type": mime_type, "data": data}})
    return {"contents": [{"parts": [{"text": prompt}, blob]}]}


def sha(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


def test_audio_gets_a_text_only_transcript(fake):
    r = post(fake, audio_body())
    assert r.status_code == 200
    doc = r.json()
    (cand,) = doc["candidates"]
    assert cand == {"content": {"role": "model", "parts": [{"text": "make it black and white"}]},
                    "finishReason": "STOP", "index": 0}
    assert doc["modelVersion"] == MODEL
    details = {d["modality"]: d["tokenCount"] for d in doc["usageMetadata"]["promptTokensDetails"]}
    assert details["AUDIO"] == 16 and "IMAGE" not in details  # 32 tokens a second
    (rec,) = fake.requests
    assert rec["images"] == [] and rec["answer"] == 200
    (audio,) = rec["audio"]
    assert audio["mime_type"] == "audio/wav" and audio["size"] == audio["bytes"] == len(TONE)
    assert audio["sha256"] == sha(TONE) and audio["seconds"] == 0.5


@pytest.mark.parametrize("mime_type", sorted(gemini.AUDIO_TYPES))
def test_documented_audio_types_are_accepted(fake, mime_type):
    r = post(fake, audio_body(b"\xff\xf1 some compressed audio", mime_type, camel=True))
    assert parts_of(r) == [{"text": "make it black and white"}]


@pytest.mark.parametrize("mime_type", ["audio/webm", "audio/mpeg", "audio/x-wav", "audio/opus"])
def test_other_audio_types_are_invalid_argument(fake, mime_type):
    r = post(fake, audio_body(mime_type=mime_type))
    assert_google_error(r, 400, "INVALID_ARGUMENT")
    assert r.json()["error"]["message"] == f"Unsupported MIME type: {mime_type}"


def test_transcript_knob_marker_and_transcripts_by_sha256(fake):
    fake.set(transcript="make it sepia")
    assert parts_of(post(fake, audio_body())) == [{"text": "make it sepia"}]
    marked = audio_body(prompt=TRANSCRIBE + " [fake:transcript=blur it]")
    assert parts_of(post(fake, marked)) == [{"text": "blur it"}]
    other = wav_bytes(0.25, freq=880)
    fake.set(transcripts={sha(other): "invert the colors"})
    assert parts_of(post(fake, audio_body(other))) == [{"text": "invert the colors"}]
    r = requests.post(fake.url + "/__fake/config", timeout=10,
                      json={"transcripts": {sha(SILENT).upper(): "whispered words"}})
    assert r.status_code == 200
    assert parts_of(post(fake, audio_body(SILENT))) == [{"text": "whispered words"}]
    assert_google_error(post(fake, audio_body(prompt="[fake:transcripts={}]")), 400,
                        "INVALID_ARGUMENT")
    with pytest.raises(ValueError):
        fake.set(transcripts={"abc": 5})


def test_a_prompt_that_does_not_ask_for_a_transcript_gets_chat(fake):
    r = post(fake, audio_body(prompt="What does this say?"))
    assert parts_of(r) == [{"text": 'The audio says: "make it black and white"'}]


def test_silent_wav_gets_a_candidate_without_parts_by_default(fake):
    doc = post(fake, audio_body(SILENT)).json()
    assert doc["candidates"] == [{"content": {"role": "model"}, "finishReason": "STOP",
                                  "index": 0}]
    assert fake.requests[0]["audio"][0]["wav_peak"] < 100
    fake.set(silent_reply="empty_text")
    assert parts_of(post(fake, audio_body(SILENT))) == [{"text": ""}]
    fake.set(silent_reply="No speech detected.")
    assert parts_of(post(fake, audio_body(SILENT))) == [{"text": "No speech detected."}]


def test_audio_with_an_image_is_still_an_image_edit(fake):
    doc = body()
    doc["contents"][0]["parts"].append(audio_body()["contents"][0]["parts"][1])
    parts = parts_of(post(fake, doc))
    assert decode(parts[1]).mode == "L"
    assert fake.requests[0]["audio"][0]["sha256"] == sha(TONE)


@pytest.mark.parametrize("code,status", [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"),
                                         (500, "INTERNAL")])
def test_audio_status_knob(fake, code, status):
    fake.set(status=code)
    assert_google_error(post(fake, audio_body()), code, status)


def test_audio_fail_times_counts_per_audio(fake):
    fake.set(status=503, fail_times=1)
    assert [post(fake, audio_body()).status_code for _ in range(2)] == [503, 200]
    other = wav_bytes(0.1, freq=1000)
    assert [post(fake, audio_body(other)).status_code for _ in range(2)] == [503, 200]


def test_audio_delay_malformed_drop_block_finish_reason_thoughts(fake):
    fake.set(delay_ms=300)
    t0 = time.monotonic()
    assert post(fake, audio_body()).status_code == 200 and time.monotonic() - t0 >= 0.3
    fake.reset()
    fake.set(malformed=True)
    with pytest.raises(ValueError):
        post(fake, audio_body()).json()
    fake.reset()
    fake.set(drop=True)
    with pytest.raises(requests.ConnectionError):
        post(fake, audio_body())
    fake.reset()
    fake.set(block="SAFETY")
    doc = post(fake, audio_body()).json()
    assert doc["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in doc
    fake.reset()
    fake.set(finish_reason="RECITATION")
    cand = post(fake, audio_body()).json()["candidates"][0]
    assert cand["finishReason"] == "RECITATION"
    assert cand["content"]["parts"] == [{"text": "I can't transcribe this audio."}]
    fake.reset()
    fake.set(thought_parts=True)
    thought, answer = parts_of(post(fake, audio_body()))
    assert thought["thought"] is True and answer == {"text": "make it black and white"}
