"""Self-test of the fake OpenAI-compatible speech-to-text server (tests/fakes/openai_stt.py):
multipart parsing, auth, the response formats, transcripts by sha256, silence, every
fault knob, the control endpoints, 50 concurrent requests and the CLI.

Run: /usr/bin/python3 -m pytest -q tests/fakes
"""
from __future__ import annotations

import array
import hashlib
import io
import math
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import openai_stt  # noqa: E402
from fakeserver import raise_nofile_limit  # noqa: E402

KEY = "test-openai-key"
PATH = "/v1/audio/transcriptions"
DEFAULT = "make it black and white"


def wav(seconds: float = 0.5, amplitude: int = 8000, rate: int = 16000, freq: int = 440) -> bytes:
    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate))
                                for i in range(int(seconds * rate))))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


TONE = wav()
SILENT = wav(1.0, amplitude=50)


@pytest.fixture(scope="module")
def server():
    raise_nofile_limit()
    fake = openai_stt.start_in_thread()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


def post(fake, audio: bytes | None = TONE, key=KEY, filename="voice.wav",
         content_type="audio/wav", path=PATH, **fields):
    data = {"model": "whisper-1", **fields}
    data = {k: v for k, v in data.items() if v is not None}
    files = {"file": (filename, audio, content_type)} if audio is not None else None
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.post(fake.url + path, data=data, files=files, headers=headers, timeout=30)


def assert_openai_error(resp, code: int, kind: str, err_code=None, param=None):
    assert resp.status_code == code
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["type"] == kind and err["code"] == err_code and err["param"] == param


# ------------------------------------------------------------------- wire format

def test_default_json_answer_and_record(fake):
    r = post(fake, language="en")
    assert r.status_code == 200 and r.json() == {"text": DEFAULT}
    assert r.headers["content-type"] == "application/json"
    (rec,) = fake.requests
    assert rec["method"] == "POST" and rec["path"] == PATH and rec["answer"] == 200
    assert rec["headers"]["authorization"] == f"Bearer {KEY}"
    assert rec["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    f = rec["fields"]
    assert f["model"] == "whisper-1" and f["language"] == "en"
    assert f["file"] == {"filename": "voice.wav", "content_type": "audio/wav",
                         "size": len(TONE), "sha256": hashlib.sha256(TONE).hexdigest(),
                         "head": TONE[:12].hex()}
    assert bytes.fromhex(f["file"]["head"])[8:12] == b"WAVE"
    assert rec["transcript"] == DEFAULT


def test_text_format_is_plain_text_with_a_newline(fake):
    r = post(fake, response_format="text")
    assert r.status_code == 200 and r.text == DEFAULT + "\n"
    assert r.headers["content-type"].startswith("text/plain")


def test_verbose_json(fake):
    doc = post(fake, response_format="verbose_json", language="fr").json()
    assert doc["text"] == DEFAULT and doc["language"] == "french"
    assert doc["duration"] == 0.5 and doc["task"] == "transcribe"
    (seg,) = doc["segments"]
    assert seg["text"].strip() == DEFAULT and seg["end"] == 0.5
    silent = post(fake, SILENT, response_format="verbose_json").json()
    assert silent["text"] == "" and silent["segments"] == [] and silent["duration"] == 1.0


@pytest.mark.parametrize("fmt,first", [("srt", "1\n00:00:00,000 --> 00:00:00,500\n"),
                                       ("vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:00.500\n")])
def test_subtitle_formats(fake, fmt, first):
    text = post(fake, response_format=fmt).text
    assert text.startswith(first) and DEFAULT in text


def test_any_audio_bytes_are_accepted(fake):
    r = post(fake, b"ID3\x04\x00\x00garbage-mp3", filename="v.mp3", content_type="audio/mpeg")
    assert r.json() == {"text": DEFAULT}
    assert fake.requests[0]["fields"]["file"]["head"] == b"ID3\x04\x00\x00garbag".hex()


def test_text_knob(fake):
    fake.set(text="make it sepia")
    assert post(fake).json() == {"text": "make it sepia"}


def test_transcripts_by_sha256_via_set_and_control(fake):
    other = wav(0.25, freq=880)
    fake.set(transcripts={hashlib.sha256(other).hexdigest(): "invert the colors"})
    assert post(fake, other).json() == {"text": "invert the colors"}
    assert post(fake).json() == {"text": DEFAULT}
    r = requests.post(fake.url + "/__fake/config", timeout=10,
                      json={"transcripts": {hashlib.sha256(TONE).hexdigest().upper(): "blur"}})
    assert r.status_code == 200
    assert post(fake).json() == {"text": "blur"}
    # a mapping wins over the silence rule
    fake.set(transcripts={hashlib.sha256(SILENT).hexdigest(): "quiet words"})
    assert post(fake, SILENT).json() == {"text": "quiet words"}


@pytest.mark.parametrize("audio", [SILENT, wav(0.2, amplitude=0), wav(0, amplitude=0)])
def test_silent_wav_gives_an_empty_text(fake, audio):
    assert post(fake, audio).json() == {"text": ""}
    assert post(fake, audio, response_format="text").text == "\n"


def test_quiet_but_not_silent_wav_is_speech(fake):
    assert post(fake, wav(0.2, amplitude=150)).json() == {"text": DEFAULT}


def test_float_and_8_bit_wavs_are_understood():
    def riff(code, bits, samples):
        fmt = struct.pack("<HHIIHH", code, 1, 16000, 16000 * bits // 8, bits // 8, bits)
        body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + \
            struct.pack("<I", len(samples)) + samples
        return b"RIFF" + struct.pack("<I", len(body)) + body
    assert openai_stt.wav_peak(riff(3, 32, struct.pack("<3f", 0, 0.001, -0.002))) < 100
    assert openai_stt.wav_peak(riff(3, 32, struct.pack("<2f", 0, 0.5))) == 16384
    assert openai_stt.wav_peak(riff(1, 8, bytes([128, 128, 128]))) < 100
    assert openai_stt.wav_peak(riff(1, 8, bytes([128, 129]))) == 256
    assert openai_stt.wav_peak(b"OggS not a wav") is None


# -------------------------------------------------------------- multipart details

def raw_multipart(fake, body: bytes, boundary: str, key=KEY) -> requests.Response:
    return requests.post(fake.url + PATH, data=body, timeout=10, headers={
        "Authorization": f"Bearer {key}",
        "Content-Type": f'multipart/form-data; charset=utf-8; boundary="{boundary}"'})


def test_hand_written_multipart_with_quoted_boundary_and_binary_data(fake):
    boundary = "b=oundary; with \"quotes\" inside"  # quoted, escaped below
    audio = TONE + b"\r\n--not-the-boundary\r\n\r\n" + bytes(range(256))
    b = boundary.encode()
    body = (b"preamble is ignored\r\n--" + b + b"\r\n"
            b'Content-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--' + b + b"\r\n"
            b'content-disposition: form-data; name="file"; filename="a \\"b\\";c.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n" + audio + b"\r\n--" + b + b"--\r\nepilogue")
    quoted = boundary.replace('"', '\\"')
    r = raw_multipart(fake, body, quoted)
    assert r.status_code == 200, r.text
    f = fake.requests[0]["fields"]
    assert f["model"] == "whisper-1" and f["file"]["filename"] == 'a "b";c.wav'
    assert f["file"]["size"] == len(audio)
    assert f["file"]["sha256"] == hashlib.sha256(audio).hexdigest()


@pytest.mark.parametrize("body", [
    b"--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1",  # no close
    b"no boundary at all",
    b"--B\r\nno-colon-header\r\n\r\nx\r\n--B--",
    b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",  # no Content-Disposition
])
def test_broken_multipart_is_400(fake, body):
    assert_openai_error(raw_multipart(fake, body, "B"), 400, "invalid_request_error")


def test_json_body_is_400(fake):
    r = requests.post(fake.url + PATH, json={"model": "whisper-1"}, timeout=10,
                      headers={"Authorization": f"Bearer {KEY}"})
    assert_openai_error(r, 400, "invalid_request_error")


def test_missing_file_or_model_is_400(fake):
    auth = {"Authorization": f"Bearer {KEY}"}
    r = requests.post(fake.url + PATH, files={"model": (None, "whisper-1")}, headers=auth,
                      timeout=10)  # multipart without a file part
    assert_openai_error(r, 400, "invalid_request_error", param="file")
    # an urlencoded form is not multipart at all
    assert_openai_error(post(fake, None), 400, "invalid_request_error")
    assert_openai_error(post(fake, model=None), 400, "invalid_request_error", param="model")
    # a text field called "file" is not a file upload
    r = requests.post(fake.url + PATH, files={"file": (None, "abc"), "model": (None, "m")},
                      headers=auth, timeout=10)
    assert_openai_error(r, 400, "invalid_request_error", param="file")
    assert fake.requests[-1]["answer"] == 400


@pytest.mark.parametrize("fields,param", [({"response_format": "xml"}, "response_format"),
                                          ({"language": "english"}, "language"),
                                          ({"filename": "voice.pcm"}, "file"),
                                          ({"filename": "voice"}, "file"),
                                          ({"audio": b""}, "file")])
def test_invalid_fields_are_400(fake, fields, param):
    assert_openai_error(post(fake, **fields), 400, "invalid_request_error", param=param)


def test_strict_filename_off_accepts_any_name(fake):
    fake.set(strict_filename=False)
    assert post(fake, filename="blob").status_code == 200


def test_unknown_route_is_404(fake):
    assert_openai_error(post(fake, path="/v1/audio/translations"), 404, "invalid_request_error")
    r = requests.get(fake.url + PATH, timeout=10)
    assert_openai_error(r, 404, "invalid_request_error")
    assert r.json()["error"]["message"] == f"Invalid URL (GET {PATH})"


# -------------------------------------------------------------------------- auth

@pytest.mark.parametrize("key", [None, "wrong-key-123"])
def test_missing_or_wrong_key_is_401(fake, key):
    r = post(fake, key=key)
    assert_openai_error(r, 401, "invalid_request_error", "invalid_api_key")
    assert "wrong-key-123" not in r.text


def test_basic_scheme_is_refused(fake):
    r = requests.post(fake.url + PATH, files={"file": ("a.wav", TONE)}, data={"model": "m"},
                      headers={"Authorization": f"Basic {KEY}"}, timeout=10)
    assert r.status_code == 401


def test_key_knob_and_no_auth(fake):
    fake.set(key="sk-other")
    assert post(fake, key="sk-other").status_code == 200
    assert post(fake).status_code == 401
    fake.set(key="")
    assert post(fake, key=None).status_code == 200


# ------------------------------------------------------------------ fault knobs

@pytest.mark.parametrize("code,kind,err_code", [
    (429, "rate_limit_exceeded", "rate_limit_exceeded"), (500, "server_error", None),
    (503, "server_error", None), (502, "server_error", None),
    (400, "invalid_request_error", None)])
def test_status_knob(fake, code, kind, err_code):
    fake.set(status=code)
    assert_openai_error(post(fake), code, kind, err_code)
    assert fake.requests[-1]["answer"] == code


def test_fail_times_counts_per_audio(fake):
    fake.set(status=503, fail_times=2)
    assert [post(fake).status_code for _ in range(3)] == [503, 503, 200]
    other = wav(0.1, freq=1000)
    assert [post(fake, other).status_code for _ in range(3)] == [503, 503, 200]


def test_fail_times_also_gates_delay_drop_and_malformed(fake):
    fake.set(delay_ms=400, fail_times=1)
    t0 = time.monotonic()
    post(fake)
    t1 = time.monotonic()
    post(fake)
    assert t1 - t0 >= 0.4 and time.monotonic() - t1 < 0.3
    fake.reset()
    fake.set(drop=True, fail_times=1)
    with pytest.raises(requests.ConnectionError):
        post(fake)
    assert post(fake).status_code == 200
    fake.set(drop=False, malformed=True, fail_times=1)
    other = wav(0.1, freq=300)
    assert post(fake, other).status_code == 200 and post(fake, other).json()["text"]


def test_delay(fake):
    fake.set(delay_ms=300)
    t0 = time.monotonic()
    assert post(fake).status_code == 200 and time.monotonic() - t0 >= 0.3


def test_malformed(fake):
    fake.set(malformed=True)
    r = post(fake)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_drop(fake):
    fake.set(drop=True)
    with pytest.raises(requests.ConnectionError):
        post(fake)
    assert fake.requests[-1]["answer"] == "dropped"


def test_bad_knobs_are_refused(fake):
    for bad in ({"bogus": 1}, {"status": 9999}, {"delay_ms": "soon"},
                {"transcripts": ["x"]}, {"transcripts": {"a": 1}}):
        with pytest.raises(ValueError):
            fake.set(**bad)
        r = requests.post(fake.url + "/__fake/config", json=bad, timeout=10)
        assert r.status_code == 400


# --------------------------------------------------------------- control endpoints

def test_control_config_requests_and_reset(fake):
    r = requests.post(fake.url + "/__fake/config", json={"status": 429}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == 429
    assert requests.get(fake.url + "/__fake/config", timeout=10).json()["status"] == 429
    assert post(fake).status_code == 429
    (rec,) = requests.get(fake.url + "/__fake/requests", timeout=10).json()["requests"]
    assert rec["fields"]["file"]["sha256"] == hashlib.sha256(TONE).hexdigest()
    assert rec["answer"] == 429
    assert requests.post(fake.url + "/__fake/reset", timeout=10).json() == {"reset": True}
    assert fake.requests == [] and post(fake).status_code == 200


def test_start_knobs_survive_reset():
    with openai_stt.start_in_thread(text="sharpen", status=500) as other:
        assert post(other).status_code == 500
        other.set(status=0)
        assert post(other).json() == {"text": "sharpen"}
        other.reset()
        assert post(other).status_code == 500


# ------------------------------------------------------------------- HTTP details

def test_chunked_expect_continue_and_keep_alive(fake):
    req = requests.Request("POST", fake.url + PATH, files={"file": ("a.wav", TONE, "audio/wav")},
                           data={"model": "whisper-1"}).prepare()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: {req.headers['Content-Type']}\r\nTransfer-Encoding: chunked\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as s:
        s.sendall(head)
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        half = len(req.body) // 2
        for piece in (req.body[:half], req.body[half:]):
            s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b'{"text": "' +
                                                                     DEFAULT.encode() + b'"}')
        s.sendall(b"GET /__fake/config HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_oversized_upload_is_413(fake):
    r = post(fake, b"\0" * (openai_stt.MAX_FILE + 1))
    assert_openai_error(r, 413, "invalid_request_error", param="file")


def test_fifty_parallel_delayed_requests(fake):
    fake.set(delay_ms=1000)
    clips = [wav(0.05, freq=200 + 10 * i) for i in range(50)]
    fake.set(transcripts={hashlib.sha256(c).hexdigest(): f"clip {i}"
                          for i, c in enumerate(clips)})
    t0 = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        texts = list(pool.map(lambda c: post(fake, c).json()["text"], clips))
    assert texts == [f"clip {i}" for i in range(50)]
    assert time.monotonic() - t0 < 5
    assert len(fake.requests) == 50


# ---------------------------------------------------------------------------- CLI

def test_cli_port_file_set_and_sigterm(tmp_path):
    port_file = tmp_path / "port"
    sha = hashlib.sha256(TONE).hexdigest()
    proc = subprocess.Popen([sys.executable, str(HERE / "openai_stt.py"), "--port", "0",
                             "--port-file", str(port_file), "--set", "key=k2",
                             "--set", f'transcripts={{"{sha}": "from the cli"}}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        port = int(port_file.read_text())
        r = requests.post(f"http://127.0.0.1:{port}{PATH}", files={"file": ("a.wav", TONE)},
                          data={"model": "whisper-1"}, headers={"Authorization": "Bearer k2"},
                          timeout=10)
        assert r.json() == {"text": "from the cli"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == b"" and err == b""
