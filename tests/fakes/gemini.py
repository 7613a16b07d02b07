#!/usr/bin/env python3
"""A fake of Google's Gemini `generateContent` REST API, for NovaDraw's end-to-end
tests and benchmarks. Standard library only (PIL is used when importable).

It speaks hand-written HTTP/1.1 on asyncio streams (keep-alive, Content-Length or
chunked request bodies, `Expect: 100-continue`), binds 127.0.0.1 only, and can hold
thousands of connections each waiting out a delay.

Route: POST /v1beta/models/{model}:generateContent
  - header `x-goog-api-key` must equal the `key` knob: missing -> 403
    PERMISSION_DENIED, wrong -> 400 INVALID_ARGUMENT; a `key=` query parameter is
    refused with 400 (and recorded), so tests can prove the key never is in a URL.
  - body: {"contents": [{"parts": [{"text": ...}, {"inline_data": {"mime_type",
    "data"}}]}], "generationConfig": {...}}; snake_case and camelCase both accepted,
    unknown fields and bad base64 are 400 INVALID_ARGUMENT as with Google.
  - success: 200, a candidate whose parts are a text part and an `inlineData` part
    holding the input image converted to grayscale PNG (camelCase, as Google answers).
  - audio (voice prompts): a request with an inline part whose mime type is audio/*
    and no image is answered the way a text model answers, with a text-only candidate
    {"content": {"role": "model", "parts": [{"text": T}]}, "finishReason": "STOP"}.
    Gemini's documented audio types are accepted (AUDIO_TYPES: audio/wav, audio/mp3,
    audio/aiff, audio/aac, audio/ogg, audio/flac); any other audio/* (audio/webm,
    audio/mpeg, ...) is 400 INVALID_ARGUMENT "Unsupported MIME type: ...".
    T is `transcripts[sha256 of the decoded audio bytes]` if set, else the `transcript`
    knob; when the prompt text does not mention transcribing ("transcri") the model
    chats instead: 'The audio says: "T"'. A silent WAV (every |sample| < 100 on a
    16-bit scale) not in `transcripts` gets the `silent_reply` knob: "no_parts"
    (default; a STOP candidate whose content is just {"role": "model"} - what Gemini
    sends when it generates nothing), "empty_text" (parts [{"text": ""}]) or any other
    value as the literal text. The fault knobs apply to audio requests too (fail_times
    counts per prompt and audio sha256); thought_parts adds a thought text part first.
Errors use Google's shape: {"error": {"code", "message", "status"}}.

Knobs (see KNOBS) are set at start, with .set(), with `POST /__fake/config`, or per
request by markers in the prompt text: `[fake:KNOB=VALUE]`, or `[fake:KNOB]` for a
boolean (or `block` = SAFETY, `finish_reason` = IMAGE_SAFETY). A marker wins over the
server-wide value, so one server can serve many concurrent test cases.
With `fail_times=N` the fault knobs (FAULTS) apply only to the first N requests with
the same prompt text; later ones get the plain success.

Control: GET/POST /__fake/config, GET /__fake/requests (recorded requests, image
data replaced by sizes), POST /__fake/reset (knobs back to the start values,
records and fail_times counters cleared).

CLI:    gemini.py --port 0 --port-file PATH [--set KNOB=VALUE ...] [--verbose]
Import: fake = start_in_thread(delay_ms=100); fake.url, fake.port, fake.requests,
        fake.set(status=503), fake.reset(), fake.stop()
"""
from __future__ import annotations

import array
import asyncio
import base64
import binascii
import email.utils
import functools
import hashlib
import http
import io
import json
import re
import struct
import sys
import time
import uuid
import zlib

from fakeserver import (IDLE_TIMEOUT, FakeServer, HttpError, Request, as_json, read_request,
                        run_cli)

try:
    from PIL import Image
except ImportError:  # without PIL the "edit" returns the input unchanged
    Image = None

MAX_BODY = 20 * 1024 * 1024  # Google's limit for a request with inline data

MAX_INPUT_PIXELS = 50_000_000  # the fake must not be the one that gets bombed

ROUTE = re.compile(r"^/v1beta/models/([A-Za-z0-9._-]+):generateContent$")
MARKER = re.compile(r"\[fake:([a-z_]+)(?:=([^\]]*))?\]")


def too_large() -> HttpError:
    return HttpError(400, f"Request payload size exceeds the limit: {MAX_BODY} bytes.")


# name -> (type, default)
KNOBS = {
    "delay_ms": (int, 0),          # sleep before answering
    "status": (int, 0),            # answer this HTTP status with Google's error body
    "fail_times": (int, 0),        # faults only for the first N requests per prompt
    "block": (str, ""),            # 200 with promptFeedback.blockReason = value
    "finish_reason": (str, ""),    # text-only candidate with this finishReason
    "no_image": (bool, False),     # text-only candidate, finishReason STOP
    "text_first": (bool, True),    # text part before the image part
    "thought_parts": (bool, False),  # thought parts with a decoy image come first
    "malformed": (bool, False),    # 200 with a body that is not JSON
    "drop": (bool, False),         # read the request, close without answering
    "not_image": (bool, False),    # inlineData whose bytes are not an image
    "huge_image": (bool, False),   # a valid 20000x20000 PNG of ~50 KB
    "text": (str, "Here is your edited image."),  # the text part's content
    "key": (str, "test-gemini-key"),  # the API key expected (server-wide only)
    "record_bodies": (bool, True),  # keep image data in .requests (server-wide only)
    "transcript": (str, "make it black and white"),  # what any audio says
    "transcripts": (dict, {}),     # sha256 of audio bytes -> its transcript (server-wide)
    "silent_reply": (str, "no_parts"),  # silent WAV: no_parts | empty_text | literal text
}
SERVER_ONLY = {"key", "record_bodies", "transcripts"}
BARE_VALUES = {"block": "SAFETY", "finish_reason": "IMAGE_SAFETY"}
FAULTS = ("delay_ms", "status", "drop", "malformed", "block", "finish_reason",
          "no_image", "not_image", "huge_image")

GOOGLE_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
                      "https://developers.generativeai.google/guide/troubleshooting"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

TOP_FIELDS = {"contents", "generationConfig", "generation_config", "safetySettings",
              "safety_settings", "systemInstruction", "system_instruction", "tools",
              "toolConfig", "tool_config", "cachedContent", "cached_content"}
PART_FIELDS = {"text", "inline_data", "inlineData", "thought", "thoughtSignature",
               "thought_signature"}
MODALITIES = {"TEXT", "IMAGE", "AUDIO"}
AUDIO_TYPES = {"audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg",
               "audio/flac"}  # what Gemini documents for audio understanding
SILENCE = 100  # a WAV whose samples all stay below this (16-bit scale) is silence
ASKS_TRANSCRIPT = re.compile(r"transcri", re.IGNORECASE)


# ----------------------------------------------------------------------------- knobs

def parse_knob(name: str, value):
    """The typed value of knob `name` from a Python value or a string; ValueError if bad."""
    if name not in KNOBS:
        raise ValueError(f"unknown knob {name!r}")
    kind, default = KNOBS[name]
    if value is None:
        return default
    if kind is bool:
        if isinstance(value, (bool, int)):
            return bool(value)
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"knob {name}: not a boolean: {value!r}")
    if kind is dict:
        if isinstance(value, (str, bytes)):
            value = json.loads(value or "{}")
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError(f"knob {name}: wants an object of sha256 hex -> text")
        return {k.lower(): v for k, v in value.items()}
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"knob {name}: not an integer: {value!r}")
        number = int(value)
        if number < 0 or (name == "status" and number and not 100 <= number <= 599):
            raise ValueError(f"knob {name}: out of range: {value!r}")
        return number
    return str(value)


def parse_knobs(knobs: dict) -> dict:
    return {name: parse_knob(name, value) for name, value in knobs.items()}


def prompt_knobs(prompt: str) -> dict:
    """The knobs set by `[fake:KNOB=VALUE]` markers in a prompt; ValueError if bad."""
    found = {}
    for m in MARKER.finditer(prompt):
        name, raw = m.group(1), m.group(2)
        if name not in KNOBS:
            raise ValueError(f"unknown knob {name!r}")
        if name in SERVER_ONLY:
            raise ValueError(f"knob {name} cannot be set from a prompt")
        if raw is None:
            if name not in BARE_VALUES and KNOBS[name][0] is not bool:
                raise ValueError(f"knob {name} needs a value: [fake:{name}=VALUE]")
            raw = BARE_VALUES.get(name, "1")
        found[name] = parse_knob(name, raw)
    return found


# ---------------------------------------------------------------------------- images

def png_file(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    """A PNG file from already-compressed IDAT data (no PIL needed)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data)))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


@functools.cache
def decoy_png() -> bytes:
    """A 16x16 solid magenta PNG: what a client that reads thought parts would return."""
    rows = (b"\0" + b"\xff\x00\xff" * 16) * 16
    return png_file(16, 16, 8, 2, zlib.compress(rows))


@functools.cache
def bomb_png() -> bytes:
    """A valid 20000x20000 1-bit grayscale PNG: ~50 KB of bytes, 400 megapixels decoded."""
    side = 20000
    row = b"\0" * (1 + side // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return png_file(side, side, 1, 0, idat)


NOT_AN_IMAGE = b"This is not an image, just text the model put in an inlineData part.\n"


class BadImage(Exception):
    pass


@functools.lru_cache(maxsize=16)
def grayscale(data: bytes, mime_type: str) -> tuple[str, bytes]:
    """The "edit": the input as a grayscale PNG. Cached because benchmarks send one
    image thousands of times. Raises BadImage when the input does not decode."""
    if Image is None:
        return mime_type, data
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_INPUT_PIXELS:
                raise BadImage("too many pixels")
            keep_alpha = "A" in im.getbands() or "transparency" in im.info
            out = io.BytesIO()
            # compress_level=1: the fake's CPU should not show up in server benchmarks
            im.convert("LA" if keep_alpha else "L").save(out, "PNG", compress_level=1)
    except BadImage:
        raise
    except Exception as e:  # any decoder failure means the input is not a usable image
        raise BadImage(str(e)) from e
    return "image/png", out.getvalue()


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header only, or None."""
    if Image is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # not an image: the record just has no size
        return None


# ----------------------------------------------------------------------------- audio

def wav_chunks(data: bytes):
    """(fmt fields or None, data chunk or None) of a RIFF/WAVE file; None if not a WAV."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]  # a 0xFFFFFFFF (streamed) size takes the rest
        if tag == b"fmt " and len(body) >= 16:
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif tag == b"data":
            return fmt, body
        pos += 8 + size + (size & 1)
    return fmt, None


def wav_peak(data: bytes) -> int | None:
    """The largest |sample| of a PCM or float WAV on a 16-bit scale (0 for no samples),
    or None when the data is not a WAV the fake understands."""
    found = wav_chunks(data)
    if not found or found[0] is None or found[1] is None:
        return None
    (code, _, _, _, _, bits), samples = found
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


def audio_seconds(data: bytes) -> float:
    """The duration of a WAV from its header; other formats are guessed at 16 kB/s."""
    found = wav_chunks(data)
    if found and found[0] and found[1] is not None and found[0][3]:
        return len(found[1]) / found[0][3]
    return len(data) / 16000


# ------------------------------------------------------------------- request parsing

class Invalid(Exception):
    """A generateContent request Google would refuse with 400 INVALID_ARGUMENT."""


class Generate:
    """The parts of a generateContent request the fake acts on."""

    def __init__(self, prompt: str, images: list[tuple[str, bytes]],
                 audio: list[tuple[str, bytes]] | None = None):
        self.prompt = prompt
        self.images = images
        self.audio = audio or []


def decode_base64(text, where: str) -> bytes:
    if not isinstance(text, str):
        raise Invalid(f"Invalid value at '{where}' (TYPE_BYTES), expected a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        try:
            return base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise Invalid(f"Invalid value at '{where}' (TYPE_BYTES), "
                          "Base64 decoding failed") from None


def parse_part(part, where: str, texts: list, images: list, audio: list):
    if not isinstance(part, dict) or not part:
        raise Invalid(f"Invalid value at '{where}': expected a Part object")
    for name in part:
        if name not in PART_FIELDS:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{name}" '
                          f"at '{where}': Cannot find field.")
    if "text" in part:
        if not isinstance(part["text"], str):
            raise Invalid(f"Invalid value at '{where}.text' (TYPE_STRING)")
        texts.append(part["text"])
    blob = part.get("inline_data", part.get("inlineData"))
    if blob is None:
        if "text" not in part:
            raise Invalid(f"Invalid value at '{where}': a Part needs text or inline_data")
        return
    if not isinstance(blob, dict):
        raise Invalid(f"Invalid value at '{where}.inline_data': expected a Blob object")
    for name in blob:
        if name not in ("mime_type", "mimeType", "data"):
            raise Invalid(f'Invalid JSON payload received. Unknown name "{name}" '
                          f"at '{where}.inline_data': Cannot find field.")
    mime_type = blob.get("mime_type", blob.get("mimeType"))
    if not isinstance(mime_type, str) or "/" not in mime_type:
        raise Invalid(f"Invalid value at '{where}.inline_data.mime_type'")
    data = decode_base64(blob.get("data"), f"{where}.inline_data.data")
    if mime_type.lower().startswith("audio/"):
        if mime_type.lower() not in AUDIO_TYPES:
            raise Invalid(f"Unsupported MIME type: {mime_type}")
        audio.append((mime_type, data))
    else:
        images.append((mime_type, data))


def parse_generate(body: bytes) -> tuple[dict, Generate]:
    """The parsed JSON and what the fake needs from it; Invalid when Google would refuse."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(doc, dict):
        raise Invalid("Invalid JSON payload received. Expected an object.")
    for name in doc:
        if name not in TOP_FIELDS:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{name}": '
                          "Cannot find field.")
    contents = doc.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    texts, images, audio = [], [], []
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: "
                          "contents.parts must not be empty.")
        for j, part in enumerate(parts):
            parse_part(part, f"contents[{i}].parts[{j}]", texts, images, audio)
    config = doc.get("generationConfig", doc.get("generation_config", {}))
    if not isinstance(config, dict):
        raise Invalid("Invalid value at 'generation_config': expected an object")
    modalities = config.get("responseModalities", config.get("response_modalities", []))
    if not isinstance(modalities, list) or any(m not in MODALITIES for m in modalities):
        raise Invalid("Invalid value at 'generation_config.response_modalities'")
    return doc, Generate("\n".join(texts), images, audio)


def summarize(doc):
    """A copy of a request body with each inline data string replaced by its size."""
    if isinstance(doc, list):
        return [summarize(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {}
    for name, value in doc.items():
        if name == "data" and isinstance(value, str):
            out[name] = f"<{len(value)} base64 chars>"
        else:
            out[name] = summarize(value)
    return out


# ---------------------------------------------------------------------- HTTP parsing

def http_response(status: int, body: bytes, keep_alive: bool) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    head = [f"HTTP/1.1 {status} {reason}",
            "Content-Type: application/json; charset=UTF-8",
            f"Content-Length: {len(body)}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            "Server: fake-gemini"]
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------- Google's bodies


def google_error(status: int, message: str | None = None) -> tuple[int, bytes]:
    name, default = GOOGLE_STATUS.get(status, ("UNKNOWN", "Unknown error."))
    return status, as_json({"error": {"code": status, "message": message or default,
                                      "status": name}})


def usage(prompt: str, images: int, audio_tokens: int = 0, output_tokens: int = 1290) -> dict:
    text_tokens = max(1, len(prompt) // 4)
    prompt_tokens = text_tokens + 258 * images + audio_tokens
    details = [{"modality": "TEXT", "tokenCount": text_tokens},
               {"modality": "IMAGE", "tokenCount": 258 * images}]
    if audio_tokens:  # Gemini counts 32 tokens per second of audio
        details = [details[0], {"modality": "AUDIO", "tokenCount": audio_tokens}]
    return {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
            "promptTokensDetails": details}


def answer(model: str, req: Generate, **fields) -> tuple[int, bytes]:
    doc = dict(fields)
    if req.audio and not req.images:
        seconds = sum(audio_seconds(data) for _, data in req.audio)
        texts = [p.get("text", "") for c in doc.get("candidates", [])
                 for p in c["content"].get("parts", [])]
        doc["usageMetadata"] = usage(req.prompt, 0, max(1, round(seconds * 32)),
                                     max(1, sum(len(t) for t in texts) // 4))
    else:
        doc["usageMetadata"] = usage(req.prompt, len(req.images))
    doc["modelVersion"] = model
    doc["responseId"] = uuid.uuid4().hex[:22]
    return 200, as_json(doc)


def candidate(parts: list, finish_reason: str) -> list:
    return [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason,
             "index": 0}]


def image_part(mime_type: str, data: bytes) -> dict:
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode()}}


def block_answer(model: str, req: Generate, reason: str) -> tuple[int, bytes]:
    ratings = [{"category": c, "probability": "HIGH" if c.endswith("EXPLICIT") else "NEGLIGIBLE"}
               for c in ("HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_HATE_SPEECH",
                         "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_DANGEROUS_CONTENT")]
    return answer(model, req, promptFeedback={"blockReason": reason, "safetyRatings": ratings})


def text_only_answer(model: str, req: Generate, text: str, finish_reason: str):
    return answer(model, req, candidates=candidate([{"text": text}], finish_reason))


async def image_answer(model: str, req: Generate, knobs: dict) -> tuple[int, bytes]:
    if knobs["not_image"]:
        mime_type, data = "image/png", NOT_AN_IMAGE
    elif knobs["huge_image"]:
        mime_type, data = "image/png", bomb_png()
    else:
        try:
            # in a thread: a large image must not stall the other connections
            mime_type, data = await asyncio.to_thread(grayscale, req.images[0][1],
                                                      req.images[0][0])
        except BadImage:
            return google_error(400, "Unable to process input image. Please retry or report "
                                     "in https://developers.generativeai.google/guide/"
                                     "troubleshooting")
    parts = [{"text": knobs["text"]}, image_part(mime_type, data)]
    if not knobs["text_first"]:
        parts.reverse()
    if knobs["thought_parts"]:
        thoughts = [{"text": "**Planning the edit**\nI will sketch a draft first.",
                     "thought": True},
                    dict(image_part("image/png", decoy_png()), thought=True)]
        parts = thoughts + parts
    return answer(model, req, candidates=candidate(parts, "STOP"))


async def audio_answer(model: str, req: Generate, knobs: dict) -> tuple[int, bytes]:
    """A text model's answer to audio: the transcript (see the module docstring)."""
    data = req.audio[0][1]
    sha = hashlib.sha256(data).hexdigest()
    if sha in knobs["transcripts"]:
        text = knobs["transcripts"][sha]
    else:
        peak = await asyncio.to_thread(wav_peak, data)
        text = None if peak is not None and peak < SILENCE else knobs["transcript"]
    if text is None:
        reply = knobs["silent_reply"]
        if reply == "no_parts":
            return answer(model, req, candidates=[{"content": {"role": "model"},
                                                   "finishReason": "STOP", "index": 0}])
        parts = [{"text": "" if reply == "empty_text" else reply}]
    elif ASKS_TRANSCRIPT.search(req.prompt):
        parts = [{"text": text}]
    else:
        parts = [{"text": f'The audio says: "{text}"'}]
    if knobs["thought_parts"]:
        parts = [{"text": "**Transcribing the audio**\nI will listen carefully and write "
                          "down what is said.", "thought": True}] + parts
    return answer(model, req, candidates=candidate(parts, "STOP"))


# ------------------------------------------------------------------------ the server

class FakeGemini(FakeServer):
    """The fake's state (knobs, records, fail_times counters) and its HTTP handler."""

    NAME = "fake-gemini"

    @staticmethod
    def start_knobs() -> dict:
        return {name: default for name, (_, default) in KNOBS.items()}

    @staticmethod
    def parse_knobs(knobs: dict) -> dict:
        return parse_knobs(knobs)

    async def _converse(self, reader, writer):
        while True:
            try:
                req = await asyncio.wait_for(read_request(reader, writer, too_large, MAX_BODY),
                                             IDLE_TIMEOUT)
            except HttpError as e:
                status, body = google_error(e.status if e.status in GOOGLE_STATUS else 400,
                                            e.message)
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
            status, body = result
            writer.write(http_response(status, body, req.keep_alive))
            await writer.drain()
            self._log(f"{req.method} {req.path} -> {status} "
                      f"{(time.monotonic() - started) * 1000:.0f} ms")
            if not req.keep_alive:
                return

    async def _dispatch(self, req: Request):
        if req.path.startswith("/__fake/"):
            return self._control(req)
        record = {"time": time.time(), "method": req.method, "path": req.path,
                  "target": req.target, "query": req.query, "headers": req.headers,
                  "body": None, "body_bytes": len(req.body), "model": None,
                  "prompt": None, "images": [], "audio": [], "answer": None}
        with self._lock:
            self._records.append(record)
        result = await self._generate(req, record)
        record["answer"] = "dropped" if result is None else result[0]
        return result

    async def _generate(self, req: Request, record: dict):
        route = ROUTE.match(req.path)
        if route is None or req.method != "POST":
            return google_error(404, f"models/{req.path} is not found or not supported "
                                     "for generateContent.")
        model = record["model"] = route.group(1)
        knobs = self.knobs
        if "key" in req.query:
            return google_error(400, "The fake refuses API keys in the URL: send the "
                                     "x-goog-api-key header instead.")
        key = req.headers.get("x-goog-api-key")
        if not key:
            return google_error(403, "Method doesn't allow unregistered callers (callers "
                                     "without established identity). Please use API Key "
                                     "or other form of API consumer identity to call "
                                     "this API.")
        if key != knobs["key"]:
            return google_error(400, "API key not valid. Please pass a valid API key.")
        try:
            doc, gen = parse_generate(req.body)
        except Invalid as e:
            return google_error(400, str(e))
        self._fill_record(record, doc, gen, knobs["record_bodies"])
        try:
            knobs.update(prompt_knobs(gen.prompt))
        except ValueError as e:
            return google_error(400, f"fake: {e}")
        counter = gen.prompt
        if gen.audio and not gen.images:  # one prompt serves every voice prompt
            counter += "\0" + record["audio"][0]["sha256"]
        knobs = self._apply_fail_times(counter, knobs)
        if knobs["delay_ms"]:
            await asyncio.sleep(knobs["delay_ms"] / 1000)
        return await self._outcome(model, gen, knobs)

    def _fill_record(self, record: dict, doc: dict, gen: Generate, keep_bodies: bool):
        record["body"] = doc if keep_bodies else summarize(doc)
        record["prompt"] = gen.prompt
        record["images"] = [{"mime_type": mime_type, "bytes": len(data),
                             "sha256": hashlib.sha256(data).hexdigest(),
                             "size": image_size(data)}
                            for mime_type, data in gen.images]
        record["audio"] = [{"mime_type": mime_type, "bytes": len(data), "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "seconds": round(audio_seconds(data), 3),
                            "wav_peak": wav_peak(data)}
                           for mime_type, data in gen.audio]

    def _apply_fail_times(self, prompt: str, knobs: dict) -> dict:
        with self._lock:
            seen = self._seen[prompt] = self._seen.get(prompt, 0) + 1
        if knobs["fail_times"] and seen > knobs["fail_times"]:
            for name in FAULTS:
                knobs[name] = KNOBS[name][1]
        return knobs

    async def _outcome(self, model: str, gen: Generate, knobs: dict):
        if knobs["drop"]:
            return None
        if knobs["status"] and knobs["status"] != 200:
            return google_error(knobs["status"])
        if knobs["malformed"]:
            return 200, b'{"candidates": [{"content": {"role": "model", "parts": [{"te'
        if knobs["block"]:
            return block_answer(model, gen, knobs["block"])
        if knobs["finish_reason"]:
            return text_only_answer(model, gen, "I can't transcribe this audio." if
                                    gen.audio and not gen.images else
                                    "I can't make that edit to this image.",
                                    knobs["finish_reason"])
        if gen.audio and not gen.images:
            return await audio_answer(model, gen, knobs)
        wants_input = not (knobs["not_image"] or knobs["huge_image"])
        if knobs["no_image"] or (wants_input and not gen.images):
            return text_only_answer(model, gen, knobs["text"], "STOP")
        return await image_answer(model, gen, knobs)

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
                return google_error(400, f"fake: {e}")
        if what == "requests" and req.method == "GET":
            records = [dict(r, body=summarize(r["body"])) for r in self.requests]
            return 200, as_json({"requests": records})
        if what == "reset" and req.method == "POST":
            self.reset()
            return 200, as_json({"reset": True})
        return google_error(404, f"fake: no control endpoint {req.method} {req.path}")


def start_in_thread(port: int = 0, verbose: bool = False, **knobs) -> FakeGemini:
    """A running fake on its own event-loop thread; call .stop() (or use `with`)."""
    fake = FakeGemini(verbose=verbose, **knobs)
    fake.start_thread(port)
    return fake


# ------------------------------------------------------------------------------- CLI


def main(argv=None):
    run_cli(FakeGemini, "Fake Gemini generateContent server (127.0.0.1).", argv)


if __name__ == "__main__":
    main()
