"""Voice prompts through the HTTP routes with the embedded defaults: the local
editor and the local (pocketsphinx) transcriber, no cloud at all. Speech is made
at test time with espeak-ng and encoded with the ffmpeg command-line tool; the
seed's second curl example runs verbatim."""
import json
import shutil
import subprocess

import pytest

from helpers import decode, new_user, noisy_png, png_bytes
from test_transcribe_cli import encode, speak

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("ffmpeg")),
                                reason="espeak-ng and ffmpeg are installed by make test")

SEED_AUDIO = '''curl -X POST http://localhost:8000/api/edit-image-with-audio \\
  -H "Authorization: Bearer YOUR_TOKEN" \\
  -F "image=@image.png" \\
  -F "audio=@audio.aac" \\
  -F "language=en" \\
  -F "tutorial_id=550e8400-e29b-41d4-a716-446655440000"'''
SEED_TUTORIAL = "550e8400-e29b-41d4-a716-446655440000"


def said(tmp_path, text, fmt="aac", voice="en-us", speed=160) -> bytes:
    wav = speak(tmp_path / "spoken.wav", text, voice, speed)
    return encode(wav, tmp_path / f"speech.{fmt}", fmt).read_bytes()


def voice_edit(server, user, image, audio, language="en"):
    return server.request("POST", "/api/edit-image-with-audio", user,
                          files={"image": ("image.png", image, "image/png"),
                                 "audio": ("audio.aac", audio, "audio/aac")},
                          data={"language": language}, timeout=120)


def test_seed_voice_example_verbatim(server, tmp_path):
    user = new_user()
    server.add_tutorial("Draw a cat", SEED_TUTORIAL)
    (tmp_path / "image.png").write_bytes(noisy_png(64, 48, seed=12))
    (tmp_path / "audio.aac").write_bytes(said(tmp_path, "make it black and white"))
    cmd = SEED_AUDIO.replace("YOUR_TOKEN", server.token(user)).replace(
        "localhost:8000", f"127.0.0.1:{server.port}")
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={"PATH": server.env["PATH"], "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body.get("success") == "true", body
    assert body["transcription"] == body["prompt"]
    assert "black and white" in body["transcription"]
    out = decode(server.http.get(body["result_image"]).content).convert("RGB")
    assert all(p[0] == p[1] == p[2] for p in out.getdata())
    d = server.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert d["tutorial_id"] == SEED_TUTORIAL
    assert d["edits"][0]["source"] == "audio"


@pytest.mark.parametrize("fmt", ["m4a", "mp3", "ogg", "webm", "wav"])
def test_voice_in_other_containers(server, tmp_path, fmt):
    user = new_user()
    r = voice_edit(server, user, png_bytes(30, 30, color=(10, 120, 230)),
                   said(tmp_path, "make it black and white", fmt))
    assert r.status_code == 200, r.text
    assert "black and white" in r.json()["transcription"]


def test_silence_is_422_says_nothing_was_heard_and_stores_nothing(server, tmp_path):
    user = new_user()
    src = tmp_path / "silence.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=16000:cl=mono", "-t", "2", str(src)], check=True, timeout=60)
    r = voice_edit(server, user, png_bytes(20, 20), src.read_bytes())
    assert r.status_code == 422, r.text
    assert r.json()["transcription"] == "", r.text
    assert server.media_files(user) == set()


def test_another_language_is_400_naming_what_is_supported(server, tmp_path):
    user = new_user()
    r = voice_edit(server, user, png_bytes(20, 20), said(tmp_path, "sepia"), language="fr")
    assert r.status_code == 400, r.text
    assert "supports: en" in r.json()["detail"]
    assert server.media_files(user) == set()


def test_a_text_file_as_audio_is_400(server):
    user = new_user()
    r = voice_edit(server, user, png_bytes(20, 20), b"make it black and white\n" * 20)
    assert r.status_code == 400, r.text


def test_too_long_is_413(server_factory, tmp_path):
    s = server_factory(env={"MAX_AUDIO_SECONDS": "1"})
    user = new_user()
    r = voice_edit(s, user, png_bytes(20, 20),
                   said(tmp_path, "make it black and white and then make it sepia please"))
    assert r.status_code == 413, r.text


def test_voice_edit_of_a_saved_drawing(server, tmp_path):
    user = new_user()
    did = server.upload(user, png_bytes(20, 20)).json()["id"]
    r = server.request("POST", f"/api/drawings/{did}/edits", user,
                       files={"audio": ("a.aac", said(tmp_path, "make it black and white"),
                                        "audio/aac")},
                       data={"language": "en"}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["drawing_id"] == did
    edits = server.get(f"/api/drawings/{did}", user).json()["edits"]
    assert [e["source"] for e in edits] == ["audio"]


def test_speech_that_is_not_an_edit_is_422_with_what_was_heard(server, tmp_path):
    """SPEC §16: 422 {"detail": "Could not understand the prompt", "transcription": ...}
    and nothing stored."""
    user = new_user()
    r = voice_edit(server, user, png_bytes(20, 20),
                   said(tmp_path, "what is the weather like today", "wav"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"detail", "transcription"}, body
    assert body["detail"] == "Could not understand the prompt"
    assert isinstance(body["transcription"], str) and body["transcription"], body
    assert server.media_files(user) == set()
    assert server.stats(user)["total_drawings"] == 0




def test_a_text_prompt_refusal_keeps_its_shape(server):
    user = new_user()
    r = server.request("POST", "/api/edit-image", user,
                       files={"image": ("image.png", png_bytes(20, 20), "image/png")},
                       data={"prompt": "call my mom"}, timeout=60)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"detail"}, r.text


# Clips that came out differently on the first request after a start than afterwards
# (the walkthrough's findings), spoken the way they were measured.
FIRST_REQUEST_CLIPS = [
    ("make it black and white", "en+f3", 180),
    ("what is the weather like today", "en-us", 140),
    ("make it brighter", "en+f3", 180),
]


@pytest.mark.parametrize("text,voice,speed", FIRST_REQUEST_CLIPS)
def test_the_first_request_hears_what_the_later_ones_hear(server_factory, tmp_path, text,
                                                          voice, speed):
    """SPEC §16: the same audio gives the same transcription on every request, the first
    after start-up included; other speech in between changes nothing."""
    clip = said(tmp_path, text, "wav", voice, speed)
    other = said(tmp_path, "turn off the lights in the kitchen and play some music", "wav",
                 "en+m3", 140)
    s = server_factory(env={})
    user = new_user()

    def heard():
        r = voice_edit(s, user, png_bytes(20, 20), clip)
        assert r.status_code in (200, 422), r.text
        return r.status_code, r.json()["transcription"]

    first = heard()
    for _ in range(3):  # both decoders of the pool hear other speech
        voice_edit(s, user, png_bytes(20, 20), other)
    assert [heard() for _ in range(3)] == [first] * 3
