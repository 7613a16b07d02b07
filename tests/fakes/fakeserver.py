"""What the fake remote services (gemini.py, openai_stt.py) share: a knob-driven
asyncio HTTP/1.1 server on 127.0.0.1 that a test starts in a thread, or the CLI
runs in the foreground. Standard library only.

A fake subclasses FakeServer and provides NAME (for logs and the thread),
start_knobs() and parse_knobs() (its knob table), and _converse(reader, writer),
which serves one connection's requests; the base keeps the knobs, the records of
what was asked and the fail_times counters, behind one lock.

Every fake's command line is run_cli(): `--port 0 --port-file PATH [--set KNOB=VALUE
...] [--verbose]`, serving in the foreground until SIGTERM or SIGINT (exit 0).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import threading
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024
IDLE_TIMEOUT = 300.0


def as_json(doc) -> bytes:
    return json.dumps(doc).encode()


def raise_nofile_limit():
    """Thousands of connections at once: take every descriptor the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def write_port_file(path: str, port: int):
    """Written whole, then renamed: a reader never sees half a port number."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------- HTTP parsing

class HttpError(Exception):
    """A request that cannot be parsed; answered, then the connection is closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    def __init__(self, method: str, target: str, version: str, headers: dict, body: bytes):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        split = urlsplit(target)
        self.path = split.path
        self.query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       too_large, max_body: int):
    """The next request on a connection, or None when the peer closed it cleanly. A body
    over max_body bytes raises too_large(), an HttpError worded as the faked service words
    it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise HttpError(400, "truncated request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
    fields = lines[0].split(" ")
    if len(fields) != 3 or not fields[2].startswith("HTTP/1."):
        raise HttpError(400, "bad request line")
    method, target, version = fields
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, "bad header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body = await read_body(reader, writer, headers, too_large, max_body)
    return Request(method, target, version, headers, body)


async def read_body(reader, writer, headers: dict, too_large, max_body: int) -> bytes:
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    length = headers.get("content-length")
    if not chunked and length is None:
        return b""
    if not chunked:
        if not length.isdigit():
            raise HttpError(400, "bad Content-Length")
        if int(length) > max_body:
            raise too_large()
    if headers.get("expect", "").lower() == "100-continue":
        # libcurl waits up to a second for this before sending a large body
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if not chunked:
        return await reader.readexactly(int(length))
    return await read_chunked(reader, too_large, max_body)


async def read_chunked(reader: asyncio.StreamReader, too_large,
                       max_body: int) -> bytes:
    chunks, total = [], 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "bad chunk size") from None
        if size == 0:
            break
        total += size
        if total > max_body:
            raise too_large()
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise HttpError(400, "bad chunk terminator")
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers are ignored
    return b"".join(chunks)


# ---------------------------------------------------------------------- the server

class FakeServer:
    NAME = "fake"

    def __init__(self, verbose: bool = False, **knobs):
        self.verbose = verbose
        self._lock = threading.Lock()  # .set() and .requests come from other threads
        self._start_knobs = self.start_knobs()
        self._start_knobs.update(self.parse_knobs(knobs))
        self._knobs = dict(self._start_knobs)
        self._records: list[dict] = []
        self._seen: dict[str, int] = {}
        self._tasks: set[asyncio.Task] = set()
        self._server = None
        self._loop = None
        self._stop_event = None
        self._thread = None
        self.port = None
        self.url = None

    # --- what a fake provides
    @staticmethod
    def start_knobs() -> dict:
        raise NotImplementedError

    @staticmethod
    def parse_knobs(knobs: dict) -> dict:
        raise NotImplementedError

    async def _converse(self, reader, writer):
        raise NotImplementedError

    # --- the test-facing API
    def set(self, **knobs) -> dict:
        checked = self.parse_knobs(knobs)
        with self._lock:
            self._knobs.update(checked)
            return dict(self._knobs)

    def reset(self):
        with self._lock:
            self._knobs = dict(self._start_knobs)
            self._records.clear()
            self._seen.clear()

    @property
    def knobs(self) -> dict:
        with self._lock:
            return dict(self._knobs)

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._records)

    # --- serving
    async def serve(self, port: int, stop: asyncio.Event, on_ready=None):
        self._server = await asyncio.start_server(self._connection, HOST, port,
                                                  limit=MAX_HEAD, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        if on_ready:
            on_ready()
        try:
            await stop.wait()
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def start_thread(self, port: int = 0):
        ready = threading.Event()
        failure = []

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            await self.serve(port, self._stop_event, ready.set)

        def run():
            try:
                asyncio.run(main())
            except Exception as e:  # reported to the caller of start_thread
                failure.append(e)
                ready.set()

        self._thread = threading.Thread(target=run, name=self.NAME, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self):
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    async def _connection(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, asyncio.CancelledError):
            pass
        except Exception as e:  # never let one bad connection take the server down
            self._log(f"connection error: {e!r}")
        finally:
            self._tasks.discard(task)
            writer.close()

    def _log(self, line: str):
        if self.verbose:
            print(f"{self.NAME}: {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the command line

def parse_cli(fake_class, description: str, argv):
    """--port, --port-file, --set KNOB=VALUE (repeatable; checked by the fake's own
    parse_knobs), --verbose. A bad --set is a usage error (exit 2)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0, help="0 = any free port")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                   help=f"start value of a knob; knobs: {', '.join(fake_class.start_knobs())}")
    p.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = p.parse_args(argv)
    knobs = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set wants KNOB=VALUE, got {item!r}")
        knobs[name] = value
    try:
        args.knobs = fake_class.parse_knobs(knobs)
    except ValueError as e:
        p.error(str(e))
    return args


async def _serve_cli(fake_class, args) -> None:
    fake = fake_class(verbose=args.verbose, **args.knobs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def ready():
        if args.port_file:
            write_port_file(args.port_file, fake.port)
        fake._log(f"listening on {fake.url}")

    await fake.serve(args.port, stop, ready)


def run_cli(fake_class, description: str, argv=None):
    """A fake's main(): parse the command line, serve until SIGTERM/SIGINT."""
    args = parse_cli(fake_class, description, sys.argv[1:] if argv is None else argv)
    raise_nofile_limit()
    asyncio.run(_serve_cli(fake_class, args))
