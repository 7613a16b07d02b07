"""Voice prompts with the remote transcribers (TRANSCRIBER=openai and gemini)
against fakes that speak the real wire formats (tests/fakes/openai_stt.py,
tests/fakes/gemini.py). The audio is made here (a tone in a WAV; other formats
with the ffmpeg command-line tool when it is installed); what the fake "hears"
is set per test. The local transcriber's tests, with real speech, are in
test_voice_local.py."""
import io
import math
import pathlib
import shutil
import struct
import subprocess
import sys
import wave

import pytest

from helpers import decode, new_user, noisy_png, png_bytes, validation_entries

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fakes"))
import gemini  # noqa: E402
import openai_stt  # noqa: E402

OPENAI_KEY = "test-openai-key"
GEMINI_KEY = "test-gemini-key"


def tone_wav(seconds=1.0, rate=22050, freq=440.0, amplitude=8000, channels=1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            v = int(amplitude * math.sin(2 * math.pi * freq * i / rate))
            frames += struct.pack("<h", v) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def silence_wav(seconds=1.0) -> bytes:
    return tone_wav(seconds, amplitude=0)


def encode(wav: bytes, fmt: str, tmp_path) -> bytes:
    src, dst = tmp_path / "in.wav", tmp_path / f"out.{fmt}"
    src.write_bytes(wav)
    args = {"aac": ["-c:a", "aac", "-f", "adts"], "m4a": ["-c:a", "aac"], "mp3": [],
            "ogg": ["-c:a", "libopus"], "webm": ["-c:a", "libopus"], "flac": []}[fmt]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True,
                   timeout=60)
    return dst.read_bytes()


@pytest.fixture(scope="module")
def stt():
    f = openai_stt.start_in_thread()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def vserver(stt, novadraw_bin, tmp_path_factory):
    from conftest import NovaServer
    s = NovaServer(novadraw_bin, tmp_path_factory.mktemp("vsrv"), env={
        "IMAGE_EDITOR": "local", "TRANSCRIBER": "openai", "TRANSCRIBE_URL": stt.url,
        "TRANSCRIBE_API_KEY": OPENAI_KEY, "MAX_AUDIO_SECONDS": "5"})
    s.start()
    yield s
    s.stop_and_check()
    assert OPENAI_KEY not in s.log_text()


@pytest.fixture(autouse=True)
def reset_fakes(stt):
    stt.reset()
    yield


def voice_edit(server, user, image, audio, language="en", tutorial_id=None, **kw):
    files = {"image": ("image.png", image, "image/png"),
             "audio": ("audio.aac", audio, "audio/aac")}
    data = {}
    if language is not None:
        data["language"] = language
    if tutorial_id:
        data["tutorial_id"] = tutorial_id
    return server.request("POST", "/api/edit-image-with-audio", user, files=files, data=data, **kw)


# ---------------------------------------------------------------- OpenAI-compatible

def test_voice_edit_shape_and_wire_format(vserver, stt):
    user = new_user()
    stt.set(text="make it black and white")
    r = voice_edit(vserver, user, noisy_png(40, 30, seed=1), tone_wav(1.2))
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["success", "prompt", "result_image", "processing_time", "drawing_id",
                          "user_id", "transcription", "applied", "ignored"]
    assert body["success"] == "true"
    assert body["transcription"] == body["prompt"] == "make it black and white"
    out = decode(vserver.http.get(body["result_image"]).content).convert("RGB")
    assert all(p[0] == p[1] == p[2] for p in out.getdata())
    d = vserver.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert [(e["prompt"], e["source"]) for e in d["edits"]] == [("make it black and white",
                                                                 "audio")]
    (req,) = stt.requests
    assert req["path"] == "/v1/audio/transcriptions"
    assert req["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    fields = req["fields"]
    assert fields["model"] == "whisper-1"
    assert fields["language"] == "en"
    assert fields["response_format"] == "json"
    f = fields["file"]
    assert f["content_type"] == "audio/wav" and f["filename"].endswith(".wav")
    # 1.2 s at 16 kHz mono s16, whatever the upload was
    assert f["size"] == 44 + int(1.2 * 16000) * 2


def test_language_is_passed_as_its_primary_subtag(vserver, stt):
    user = new_user()
    stt.set(text="sepia")
    r = voice_edit(vserver, user, png_bytes(20, 20), tone_wav(0.5), language="pt-BR")
    assert r.status_code == 200, r.text
    assert stt.requests[0]["fields"]["language"] == "pt"


@pytest.mark.parametrize("language", ["not a tag", "e", "english-language-that-is-too-long-x"])
def test_bad_language_is_400(vserver, stt, language):
    user = new_user()
    r = voice_edit(vserver, user, png_bytes(20, 20), tone_wav(0.5), language=language)
    assert r.status_code == 400, r.text
    assert "language" in r.json()["detail"]
    assert stt.requests == [] and vserver.media_files(user) == set()


def test_silence_is_422_and_stores_nothing(vserver, stt):
    user = new_user()
    r = voice_edit(vserver, user, png_bytes(20, 20), silence_wav(1.0))
    assert r.status_code == 422, r.text
    assert "No speech" in r.json()["detail"]
    assert vserver.media_files(user) == set() and vserver.gallery(user)["count"] == 0


def test_speech_that_is_no_edit_is_422(vserver, stt):
    user = new_user()
    stt.set(text="what a lovely day")
    r = voice_edit(vserver, user, png_bytes(20, 20), tone_wav(0.5))
    assert r.status_code == 422
    assert "Could not understand" in r.json()["detail"]
    assert vserver.media_files(user) == set()


@pytest.mark.parametrize("data,status", [
    (png_bytes(20, 20), 400),            # an image is not audio
    (b"hello, this is text", 400),
    (tone_wav(0.5)[:30], 400),           # a header and nothing else
    (tone_wav(6.0), 413),                # MAX_AUDIO_SECONDS=5
])
def test_bad_audio(vserver, stt, data, status):
    user = new_user()
    r = voice_edit(vserver, user, png_bytes(20, 20), data)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str)
    assert stt.requests == [] and vserver.media_files(user) == set()


def test_missing_fields_are_all_listed(vserver):
    r = vserver.request("POST", "/api/edit-image-with-audio", new_user(), data={"language": "en"})
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in validation_entries(r.json())} == {("body", "image"),
                                                                      ("body", "audio")}


@pytest.mark.parametrize("status,expect", [(503, 502), (401, 502), (500, 502)])
def test_transcription_service_failures(vserver, stt, status, expect):
    user = new_user()
    stt.set(status=status)
    r = voice_edit(vserver, user, png_bytes(20, 20), tone_wav(0.3))
    assert r.status_code == expect, r.text
    assert OPENAI_KEY not in r.text
    assert vserver.media_files(user) == set()


def test_transient_failure_is_retried(vserver, stt):
    user = new_user()
    stt.set(status=503, fail_times=1, text="invert")
    r = voice_edit(vserver, user, png_bytes(20, 20), tone_wav(0.3, freq=300))
    assert r.status_code == 200, r.text
    assert [q["answer"] for q in stt.requests] == [503, 200]


def test_voice_edit_of_a_saved_drawing(vserver, stt):
    user = new_user()
    did = vserver.upload(user, png_bytes(20, 20)).json()["id"]
    stt.set(text="blur it")
    r = vserver.request("POST", f"/api/drawings/{did}/edits", user,
                        files={"audio": ("a.wav", tone_wav(0.4), "audio/wav")},
                        data={"language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["transcription"] == "blur it" and r.json()["drawing_id"] == did
    d = vserver.get(f"/api/drawings/{did}", user).json()
    assert [(e["prompt"], e["source"]) for e in d["edits"]] == [("blur it", "audio")]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("fmt", ["aac", "m4a", "mp3", "ogg", "webm", "flac"])
def test_every_container_decodes(vserver, stt, tmp_path, fmt):
    user = new_user()
    stt.set(text="sepia")
    r = voice_edit(vserver, user, png_bytes(20, 20), encode(tone_wav(1.0), fmt, tmp_path))
    assert r.status_code == 200, r.text
    size = stt.requests[0]["fields"]["file"]["size"]
    assert abs((size - 44) / 32000 - 1.0) < 0.1  # about one second came through


# ---------------------------------------------------------------- Gemini

def test_gemini_transcriber(novadraw_bin, server_factory):
    fake = gemini.start_in_thread(transcript="make it look like a sketch")
    try:
        s = server_factory(env={"IMAGE_EDITOR": "local", "TRANSCRIBER": "gemini",
                                "GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": fake.url,
                                "GEMINI_TRANSCRIBE_MODEL": "gemini-2.5-flash"})
        user = new_user()
        r = voice_edit(s, user, png_bytes(30, 30), tone_wav(0.8))
        assert r.status_code == 200, r.text
        assert r.json()["transcription"] == "make it look like a sketch"
        (req,) = fake.requests
        assert req["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert req["headers"]["x-goog-api-key"] == GEMINI_KEY
        parts = req["body"]["contents"][0]["parts"]
        assert "Transcribe" in parts[0]["text"]
        assert parts[1]["inline_data"]["mime_type"] == "audio/wav"
        assert req["body"]["generationConfig"]["responseModalities"] == ["TEXT"]
        # silence: no words, 422
        r = voice_edit(s, user, png_bytes(30, 30), silence_wav(0.8))
        assert r.status_code == 422, r.text
        # a failing service: 502 after its retries
        fake.set(status=503)
        r = voice_edit(s, user, png_bytes(30, 30), tone_wav(0.8, freq=200))
        assert r.status_code == 502 and GEMINI_KEY not in r.text
        s.stop_and_check()
        assert GEMINI_KEY not in s.log_text()
    finally:
        fake.stop()


def test_voice_is_off_without_a_transcriber_and_images_still_work(server_factory, stt):
    # a local transcriber without its model cannot be opened: the server starts
    # anyway, voice prompts answer 503, everything else works
    s = server_factory(env={"TRANSCRIBER": "local", "IMAGE_EDITOR": "local",
                            "SPEECH_MODEL_DIR": "/nonexistent"})
    user = new_user()
    r = voice_edit(s, user, png_bytes(20, 20), tone_wav(0.3))
    assert r.status_code == 503, r.text
    assert r.json()["detail"] == "Voice prompts are not available on this server"
    assert s.upload(user, png_bytes(10, 10)).status_code == 201
    assert "voice prompts are off" in s.log_text()
