#!/usr/bin/env python3
"""A fake OpenAI-compatible speech-to-text server (`POST /v1/audio/transcriptions`, the
form spoken by OpenAI, whisper.cpp's server and speaches), for NovaDraw's voice-prompt
tests. Standard library only. Same architecture as gemini.py: hand-written HTTP/1.1 on
asyncio streams (keep-alive, Content-Length or chunked bodies, `Expect: 100-continue`),
127.0.0.1 only.

Route: POST /v1/audio/transcriptions, body multipart/form-data:
  - `file` (required): the audio, a part with a filename and a Content-Type;
  - `model` (required), `language` (optional ISO-639-1, e.g. "en"), `response_format`
    (json | text | verbose_json | srt | vtt; default json), any other text field
    (prompt, temperature, ...) is accepted and recorded.
  - auth: when the `key` knob is not empty, `Authorization: Bearer KEY` is required,
    else 401 (code invalid_api_key). key="" turns auth off (whisper.cpp, speaches).
  - the file name must end in one of OpenAI's extensions (flac m4a mp3 mp4 mpeg mpga
    oga ogg wav webm) unless strict_filename=0; the file may be at most 25 MiB (413).
Success: json -> {"text": T}; text -> T + "\n" as text/plain; verbose_json ->
  {"task": "transcribe", "language": "english", "duration": seconds, "text": T,
  "segments": [one segment, or none when T is ""]}; srt / vtt -> one cue.
T is: `transcripts[sha256 of the file bytes]` if set; else "" when the file is a WAV
(RIFF/WAVE, PCM or float) whose samples all have |sample| < 100 (16-bit scale), as
Whisper answers silence; else the `text` knob.
Errors use OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

Knobs (see KNOBS) are set at start, with .set() or with `POST /__fake/config`.
With `fail_times=N` the fault knobs (FAULTS) apply only to the first N requests with
the same file bytes (sha256); later ones get the plain success.

Control: GET/POST /__fake/config, GET /__fake/requests, POST /__fake/reset (knobs
back to the start values, records and fail_times counters cleared).

CLI:    openai_stt.py --port 0 --port-file PATH [--set KNOB=VALUE ...] [--verbose]
        (transcripts as JSON: --set 'transcripts={"<sha256>": "text"}')
Import: fake = start_in_thread(text="sepia"); fake.url, fake.port, fake.requests,
        fake.set(status=503), fake.reset(), fake.stop()
"""
from __future__ import annotations

import array
import asyncio
import email.utils
import hashlib
import http
import json
import re
import struct
import sys
import time
import uuid
from urllib.parse import unquote

from fakeserver import (IDLE_TIMEOUT, FakeServer, HttpError, Request, as_json, read_request,
                        run_cli)

MAX_FILE = 25 * 1024 * 1024  # OpenAI's limit for the audio file
MAX_BODY = MAX_FILE + 1024 * 1024  # room for the other fields and the multipart framing

SILENCE = 100  # a WAV whose samples all stay below this (16-bit scale) is silence

ROUTE = "/v1/audio/transcriptions"
EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
LANGUAGE = re.compile(r"^[a-z]{2}$")
LANGUAGE_NAMES = {"en": "english", "fr": "french", "de": "german", "es": "spanish",
                  "it": "italian", "pt": "portuguese", "nl": "dutch", "ru": "russian",
                  "ja": "japanese", "zh": "chinese", "ko": "korean", "pl": "polish"}


def too_large() -> HttpError:
    return HttpError(413, f"Maximum content size limit ({MAX_FILE}) exceeded.")


# name -> (type, default)
KNOBS = {
    "delay_ms": (int, 0),          # sleep before answering
    "status": (int, 0),            # answer this HTTP status with OpenAI's error body
    "fail_times": (int, 0),        # faults only for the first N requests per file sha256
    "malformed": (bool, False),    # 200 with a body that is not JSON
    "drop": (bool, False),         # read the request, close without answering
    "text": (str, "make it black and white"),  # the transcript of any other audio
    "transcripts": (dict, {}),     # sha256 of the file bytes -> its transcript
    "key": (str, "test-openai-key"),  # the Bearer key expected; "" = no auth
    "strict_filename": (bool, True),  # refuse file names without an OpenAI extension
}
FAULTS = ("delay_ms", "status", "drop", "malformed")

OPENAI_ERRORS = {  # status -> (type, code, message)
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country, region, or territory not supported"),
    404: ("invalid_request_error", None, "Not found."),
    413: ("invalid_request_error", None, "Maximum content size limit (26214400) exceeded."),
    429: ("rate_limit_exceeded", "rate_limit_exceeded",
          "Rate limit reached for whisper-1 in organization org-fake on requests per min "
          "(RPM): Limit 50, Used 50, Requested 1. Please try again in 1.2s."),
    500: ("server_error", None, "The server had an error while processing your request. "
                                "Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
    504: ("server_error", None, "Gateway timeout."),
}


# ----------------------------------------------------------------------------- knobs

def parse_knob(name: str, value):
    """The typed value of knob `name` from a Python value or a string; ValueError if bad."""
    if name not in KNOBS:
        raise ValueError(f"unknown knob {name!r}")
    kind, default = KNOBS[name]
    if value is None:
        return dict(default) if kind is dict else default
    if kind is bool:
        if isinstance(value, (bool, int)):
            return bool(value)
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"knob {name}: not a boolean: {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"knob {name}: not an integer: {value!r}")
        number = int(value)
        if number < 0 or (name == "status" and number and not 100 <= number <= 599):
            raise ValueError(f"knob {name}: out of range: {value!r}")
        return number
    if kind is dict:
        if isinstance(value, (str, bytes)):
            value = json.loads(value or "{}")
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError(f"knob {name}: wants an object of sha256 hex -> text")
        return {k.lower(): v for k, v in value.items()}
    return str(value)


def parse_knobs(knobs: dict) -> dict:
    return {name: parse_knob(name, value) for name, value in knobs.items()}


# ----------------------------------------------------------------------------- audio

def wav_peak(data: bytes) -> int | None:
    """The largest |sample| of a RIFF/WAVE file on a 16-bit scale (0 for no samples),
    or None when the data is not a WAV the fake understands."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]  # a 0xFFFFFFFF (streamed) size takes the rest
        if tag == b"fmt " and len(body) >= 16:
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif tag == b"data":
            samples = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        return None
    code, bits = fmt[0], fmt[5]
    if code == 3 and bits in (32, 64):
        count = len(samples) // (bits // 8)
        values = struct.unpack(f"<{count}{'f' if bits == 32 else 'd'}",
                               samples[:count * bits // 8])
        return int(max((abs(v) for v in values), default=0.0) * 32768)
    if code != 1:
        return None
    if bits == 8:
        return max((abs(b - 128) for b in samples), default=0) * 256
    if bits == 16:
        values = array.array("h", samples[:len(samples) & ~1])
        if sys.byteorder == "big":
            values.byteswap()
        return max(max(values, default=0), -min(values, default=0))
    if bits in (24, 32):
        width = bits // 8
        end = len(samples) - len(samples) % width
        peak = max((abs(int.from_bytes(samples[i:i + width], "little", signed=True))
                    for i in range(0, end, width)), default=0)
        return peak >> (bits - 16)
    return None


def wav_seconds(data: bytes) -> float | None:
    """The duration of a PCM WAV from its header, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"fmt " and size >= 16:
            byte_rate = struct.unpack("<I", data[pos + 16:pos + 20])[0]
        elif tag == b"data":
            available = min(size, len(data) - pos - 8)
            return round(available / byte_rate, 3) if byte_rate else None
        pos += 8 + size + (size & 1)
    return None


# ------------------------------------------------------------------------- multipart

class Invalid(Exception):
    """A request OpenAI would refuse with 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


class Upload:
    def __init__(self, filename: str | None, content_type: str, data: bytes):
        self.filename, self.content_type, self.data = filename, content_type, data
        self.sha256 = hashlib.sha256(data).hexdigest()

    def summary(self) -> dict:
        return {"filename": self.filename, "content_type": self.content_type,
                "size": len(self.data), "sha256": self.sha256,
                "head": self.data[:12].hex()}


def header_params(value: str) -> tuple[str, dict]:
    """`type/sub; a=1; b="x;y"` -> ("type/sub", {"a": "1", "b": "x;y"}), with quoted
    strings (backslash escapes) and RFC 5987 `name*=UTF-8''...` values."""
    main, _, rest = value.partition(";")
    params, i = {}, 0
    while i < len(rest):
        m = re.compile(r"\s*([^=;\s]+)\s*=\s*").match(rest, i)
        if not m:
            i = rest.find(";", i) + 1 or len(rest)
            continue
        name, i = m.group(1).lower(), m.end()
        if i < len(rest) and rest[i] == '"':
            out, i = [], i + 1
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                out.append(rest[i])
                i += 1
            val, i = "".join(out), i + 1
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            val, i = rest[i:end].strip(), end
        if name.endswith("*"):
            charset, _, encoded = val.partition("''")
            name, val = name[:-1], unquote(encoded, encoding=charset or "utf-8",
                                           errors="replace")
        params.setdefault(name, val)
        if i < len(rest) and rest[i] == ";":
            i += 1
    return main.strip().lower(), params


def parse_multipart(content_type: str, body: bytes) -> tuple[dict, dict]:
    """(text fields, file fields) of a multipart/form-data body; Invalid when broken."""
    kind, params = header_params(content_type)
    if kind != "multipart/form-data":
        raise Invalid("Could not parse multipart form: the Content-Type must be "
                      "multipart/form-data")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise Invalid("Could not parse multipart form: no boundary")
    delim = b"\r\n--" + boundary.encode("latin-1")
    data = b"\r\n" + body  # so the first delimiter looks like the others
    pos = data.find(delim)
    if pos < 0:
        raise Invalid("Could not parse multipart form: no part")
    texts, files = {}, {}
    while True:
        pos += len(delim)
        if data[pos:pos + 2] == b"--":
            return texts, files  # the close delimiter; the epilogue is ignored
        eol = data.find(b"\r\n", pos)
        if eol < 0 or data[pos:eol].strip(b" \t"):
            raise Invalid("Could not parse multipart form: bad delimiter line")
        head_end = data.find(b"\r\n\r\n", eol)
        if head_end < 0:
            raise Invalid("Could not parse multipart form: truncated part headers")
        headers = {}
        for line in data[eol + 2:head_end].decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if line and not sep:
                raise Invalid("Could not parse multipart form: bad part header")
            if sep:
                headers[name.strip().lower()] = value.strip()
        end = data.find(delim, head_end + 4)
        if end < 0:
            raise Invalid("Could not parse multipart form: no closing boundary")
        content = data[head_end + 4:end]
        disposition, dparams = header_params(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in dparams:
            raise Invalid("Could not parse multipart form: a part without "
                          "Content-Disposition: form-data; name=...")
        name = dparams["name"]
        if "filename" in dparams:
            ctype = headers.get("content-type", "application/octet-stream")
            files.setdefault(name, Upload(dparams["filename"], ctype, content))
        else:
            texts.setdefault(name, content.decode("utf-8", "replace"))
        pos = end


# ---------------------------------------------------------------------- HTTP parsing

JSON_TYPE = "application/json"


def http_response(status: int, body: bytes, keep_alive: bool,
                  content_type: str = JSON_TYPE) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    head = [f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"x-request-id: req_{uuid.uuid4().hex}",
            "Server: fake-openai-stt"]
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------- OpenAI's bodies


def openai_error(status: int, message: str | None = None, param: str | None = None,
                 code: str | None = None) -> tuple[int, bytes]:
    kind, default_code, default = OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None,
                 "Error."))
    return status, as_json({"error": {"message": message or default, "type": kind,
                                      "param": param, "code": code or default_code}})


def timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def transcription(text: str, fmt: str, language: str | None, seconds: float | None):
    """(status, body, content type) of a successful answer in `fmt`."""
    duration = seconds if seconds is not None else max(1.0, round(len(text) / 15, 2))
    if fmt == "text":
        return 200, (text + "\n").encode(), "text/plain; charset=utf-8"
    if fmt in ("srt", "vtt"):
        if fmt == "srt":
            cue = f"1\n{timestamp(0, ',')} --> {timestamp(duration, ',')}\n{text}\n\n"
        else:
            cue = f"WEBVTT\n\n{timestamp(0, '.')} --> {timestamp(duration, '.')}\n{text}\n\n"
        return 200, cue.encode(), "text/plain; charset=utf-8"
    if fmt == "verbose_json":
        segments = [{"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text,
                     "tokens": list(range(50364, 50364 + max(1, len(text) // 4))),
                     "temperature": 0.0, "avg_logprob": -0.21, "compression_ratio": 0.9,
                     "no_speech_prob": 0.01}] if text else []
        doc = {"task": "transcribe",
               "language": LANGUAGE_NAMES.get(language or "en", language),
               "duration": duration, "text": text, "segments": segments}
        return 200, as_json(doc), JSON_TYPE
    return 200, as_json({"text": text}), JSON_TYPE


# ------------------------------------------------------------------------ the server

class FakeOpenAISTT(FakeServer):
    """The fake's state (knobs, records, fail_times counters) and its HTTP handler."""

    NAME = "fake-openai-stt"

    @staticmethod
    def start_knobs() -> dict:
        return {name: parse_knob(name, None) for name in KNOBS}

    @staticmethod
    def parse_knobs(knobs: dict) -> dict:
        return parse_knobs(knobs)

    async def _converse(self, reader, writer):
        while True:
            try:
                req = await asyncio.wait_for(read_request(reader, writer, too_large, MAX_BODY),
                                             IDLE_TIMEOUT)
            except HttpError as e:
                status, body = openai_error(e.status, e.message)
                writer.write(http_response(status, body, keep_alive=False))
                await writer.drain()
                return
            if req is None:
                return
            started = time.monotonic()
            result = await self._dispatch(req)
            if result is None:
                self._log(f"{req.method} {req.path} -> dropped")
                return
            status, body, ctype = result
            writer.write(http_response(status, body, req.keep_alive, ctype))
            await writer.drain()
            self._log(f"{req.method} {req.path} -> {status} "
                      f"{(time.monotonic() - started) * 1000:.0f} ms")
            if not req.keep_alive:
                return

    async def _dispatch(self, req: Request):
        if req.path.startswith("/__fake/"):
            return self._control(req) + (JSON_TYPE,)
        record = {"time": time.time(), "method": req.method, "path": req.path,
                  "query": req.query, "headers": req.headers, "body_bytes": len(req.body),
                  "fields": {}, "transcript": None, "answer": None}
        with self._lock:
            self._records.append(record)
        result = await self._transcribe(req, record)
        if result is not None and len(result) == 2:
            result = result + (JSON_TYPE,)
        record["answer"] = "dropped" if result is None else result[0]
        return result

    async def _transcribe(self, req: Request, record: dict):
        if req.path != ROUTE or req.method != "POST":
            return openai_error(404, f"Invalid URL ({req.method} {req.path})")
        knobs = self.knobs
        if knobs["key"]:
            auth = req.headers.get("authorization", "")
            if not auth:
                return openai_error(401, "You didn't provide an API key. You need to "
                                         "provide your API key in an Authorization header "
                                         "using Bearer auth (i.e. Authorization: Bearer "
                                         "YOUR_KEY).")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or token.strip() != knobs["key"]:
                return openai_error(401, "Incorrect API key provided. You can find your "
                                         "API key at https://platform.openai.com/account/"
                                         "api-keys.")
        try:
            upload, fields = self._parse(req, record, knobs)
        except Invalid as e:
            return openai_error(e.status, e.message, e.param)
        with self._lock:
            seen = self._seen[upload.sha256] = self._seen.get(upload.sha256, 0) + 1
        if knobs["fail_times"] and seen > knobs["fail_times"]:
            for name in FAULTS:
                knobs[name] = KNOBS[name][1]
        if knobs["delay_ms"]:
            await asyncio.sleep(knobs["delay_ms"] / 1000)
        if knobs["drop"]:
            return None
        if knobs["status"] and knobs["status"] != 200:
            return openai_error(knobs["status"])
        if knobs["malformed"]:
            return 200, b'{"text": "make it bl', JSON_TYPE
        if upload.sha256 in knobs["transcripts"]:
            text = knobs["transcripts"][upload.sha256]
        else:
            peak = await asyncio.to_thread(wav_peak, upload.data)
            text = "" if peak is not None and peak < SILENCE else knobs["text"]
        record["transcript"] = text
        return transcription(text, fields.get("response_format") or "json",
                             fields.get("language"), wav_seconds(upload.data))

    def _parse(self, req: Request, record: dict, knobs: dict) -> tuple[Upload, dict]:
        texts, files = parse_multipart(req.headers.get("content-type", ""), req.body)
        record["fields"] = dict(texts, **{k: v.summary() for k, v in files.items()})
        upload = files.get("file")
        if upload is None:
            raise Invalid("1 validation error for Request\nbody -> file\n  field required"
                          if "file" not in texts else
                          "The file field must be a file upload (with a filename).", "file")
        if not texts.get("model"):
            raise Invalid("you must provide a model parameter", "model")
        fmt = texts.get("response_format") or "json"
        if fmt not in FORMATS:
            raise Invalid(f"'{fmt}' is not one of {list(FORMATS)} - 'response_format'",
                          "response_format")
        language = texts.get("language")
        if language is not None and not LANGUAGE.match(language):
            raise Invalid(f"Invalid language '{language}'. Language parameter must be "
                          "specified in ISO-639-1 format.", "language")
        ext = (upload.filename or "").rpartition(".")[2].lower()
        if knobs["strict_filename"] and ("." not in (upload.filename or "")
                                         or ext not in EXTENSIONS):
            raise Invalid(f"Invalid file format. Supported formats: {list(EXTENSIONS)}",
                          "file")
        if len(upload.data) > MAX_FILE:
            raise Invalid(f"Maximum content size limit ({MAX_FILE}) exceeded "
                          f"({len(upload.data)} bytes read)", "file", 413)
        if not upload.data:
            raise Invalid("Audio file is empty.", "file")
        return upload, texts

    def _control(self, req: Request):
        what = req.path[len("/__fake/"):]
        if what == "config" and req.method == "GET":
            return 200, as_json(self.knobs)
        if what == "config" and req.method == "POST":
            try:
                doc = json.loads(req.body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("the body must be a JSON object of knobs")
                return 200, as_json(self.set(**doc))
            except (ValueError, TypeError) as e:
                return openai_error(400, f"fake: {e}")
        if what == "requests" and req.method == "GET":
            return 200, as_json({"requests": self.requests})
        if what == "reset" and req.method == "POST":
            self.reset()
            return 200, as_json({"reset": True})
        return openai_error(404, f"fake: no control endpoint {req.method} {req.path}")


def start_in_thread(port: int = 0, verbose: bool = False, **knobs) -> FakeOpenAISTT:
    """A running fake on its own event-loop thread; call .stop() (or use `with`)."""
    fake = FakeOpenAISTT(verbose=verbose, **knobs)
    fake.start_thread(port)
    return fake


# ------------------------------------------------------------------------------- CLI


def main(argv=None):
    run_cli(FakeOpenAISTT, "Fake OpenAI-compatible /v1/audio/transcriptions server (127.0.0.1).", argv)


if __name__ == "__main__":
    main()
