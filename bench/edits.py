#!/usr/bin/env python3
"""Edit benchmark driver: fires K concurrent `POST /api/edit-image` requests at a
NovaDraw server, all started at once, one raw HTTP/1.1 connection per request, and
reports completed, status histogram, transport errors, wall time and latency
p50/p99/max (over every request that got an answer).

Optional, in the same run:
  --gallery-probe  a few looping keep-alive connections time
                   `GET /api/drawings/gallery?page=1&limit=20` for as long as the burst
                   lasts (does a slow editor hold server threads?);
  --pid PID        the server's VmRSS and thread count (Threads:) sampled every 50 ms,
                   its VmHWM at the end, and its CPU seconds (utime + stime) over the
                   run, per successful edit.

  bench/edits.py --url http://127.0.0.1:8000 --token TOKEN -k 1000 --gallery-probe --pid PID
  bench/edits.py ... -k 2 -n 50 --size 1024      (50 edits, at most 2 in flight)

Standard library only; PIL (python3-pil) only to generate the drawing when no
--image is given. Raises its own RLIMIT_NOFILE soft limit to the hard limit.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import resource
import sys
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

GALLERY_PATH = "/api/drawings/gallery?page=1&limit=20"
SAMPLE_EVERY = 0.05


def parse_args(argv):
    p = argparse.ArgumentParser(description="Concurrent POST /api/edit-image benchmark.")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (http)")
    p.add_argument("--token", default=os.environ.get("TOKEN"),
                   help="bearer token (default $TOKEN)")
    p.add_argument("-k", "--concurrency", type=int, default=1000,
                   help="requests in flight at once (default 1000)")
    p.add_argument("-n", "--requests", type=int,
                   help="total requests (default: the concurrency, all started at once)")
    p.add_argument("--image", help="PNG to upload (default: a generated colorful drawing)")
    p.add_argument("--size", type=int, default=256, help="side of the generated drawing")
    p.add_argument("--prompt", default="make it black and white")
    p.add_argument("--tutorial-id", help="optional tutorial_id field")
    p.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    p.add_argument("--gallery-probe", action="store_true",
                   help="time the gallery page during the burst")
    p.add_argument("--gallery-conns", type=int, default=4)
    p.add_argument("--gallery-pause-ms", type=float, default=10.0,
                   help="pause between one connection's gallery requests, so the probe "
                        "measures the gallery rather than loading the server")
    p.add_argument("--pid", type=int, help="server pid: sample its memory and CPU")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if not args.token:
        p.error("--token (or $TOKEN) is required")
    if args.requests is None:
        args.requests = args.concurrency
    if urlsplit(args.url).scheme != "http":
        p.error("only http:// URLs are supported")
    return args


def raise_nofile_limit():
    """One socket per request: K in flight needs K descriptors and then some."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ----------------------------------------------------------------------- requests

def drawing_png(side: int) -> bytes:
    """A colorful side x side PNG: two gradients and a Mandelbrot set, one per
    channel, so it has both flat areas and fine detail like a drawing."""
    from PIL import Image
    size = (side, side)
    channels = [Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
                Image.effect_mandelbrot(size, (-2.0, -1.25, 0.75, 1.25), 100)]
    img = Image.merge("RGB", channels)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def multipart(fields: list[tuple[str, bytes, str | None]]) -> tuple[str, bytes]:
    """(content type, body) for fields of (name, value, filename or None)."""
    boundary = f"----novadraw-bench-{uuid.uuid4().hex}"
    out = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: image/png\r\n"
        out += [head.encode() + b"\r\n", value, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


class Target:
    """Where the server is, and the bytes of the requests sent to it."""

    def __init__(self, url: str, token: str):
        split = urlsplit(url)
        self.host = split.hostname
        self.port = split.port or 80
        self.prefix = split.path.rstrip("/")
        self.host_header = split.netloc
        self.token = token

    def request(self, method: str, path: str, keep_alive: bool,
                content_type: str | None = None, body: bytes = b"") -> bytes:
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}",
                f"Authorization: Bearer {self.token}"]
        if content_type:
            head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        if not keep_alive:
            head.append("Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def edit_request(target: Target, args, png: bytes) -> bytes:
    fields = [("file", png, "drawing.png"), ("prompt", args.prompt.encode(), None)]
    if args.tutorial_id:
        fields.append(("tutorial_id", args.tutorial_id.encode(), None))
    content_type, body = multipart(fields)
    return target.request("POST", "/api/edit-image", False, content_type, body)


# --------------------------------------------------------------------------- HTTP

async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    """One response: status, lowercased headers, body (Content-Length, chunked or EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return status, headers, body


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            break
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass
    return b"".join(chunks)


def error_name(e: BaseException) -> str:
    if isinstance(e, asyncio.IncompleteReadError):
        return "closed mid-response"
    return type(e).__name__


# -------------------------------------------------------------------------- edits

EDIT_KEYS = {"success", "prompt", "result_image", "processing_time", "drawing_id", "user_id"}


def is_edit_success(status: int, body: bytes) -> bool:
    """The seed's success shape: every EDIT_KEYS field, "success" the string "true"."""
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return (isinstance(doc, dict) and EDIT_KEYS <= doc.keys() and doc["success"] == "true"
            and bool(doc["result_image"]))


async def exchange(target: Target, request: bytes) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def one_edit(target: Target, request: bytes, timeout: float) -> dict:
    started = time.monotonic()
    try:
        status, _, body = await asyncio.wait_for(exchange(target, request), timeout)
        return {"status": status, "latency": time.monotonic() - started,
                "ok": is_edit_success(status, body), "error": None}
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            asyncio.TimeoutError, ValueError, IndexError) as e:
        return {"status": None, "latency": time.monotonic() - started, "ok": False,
                "error": error_name(e)}


async def edit_burst(target: Target, args, request: bytes) -> list[dict]:
    gate = asyncio.Semaphore(args.concurrency)

    async def gated():
        async with gate:
            return await one_edit(target, request, args.timeout)

    return await asyncio.gather(*(gated() for _ in range(args.requests)))


# ------------------------------------------------------------------ gallery probe

async def gallery_worker(target: Target, pause: float, stop: asyncio.Event, samples: list,
                         errors: Counter):
    """Loops GET gallery on one keep-alive connection (reconnecting when it closes)."""
    request = target.request("GET", GALLERY_PATH, True)
    reader = writer = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(target.host, target.port)
            writer.write(request)
            status, headers, _ = await read_response(reader)
            samples.append((time.monotonic() - started, status))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
            await asyncio.sleep(pause)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, IndexError) as e:
            errors[error_name(e)] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)  # a refusing server must not turn this into a spin
    if writer is not None:
        writer.close()


# --------------------------------------------------------------------- /proc/PID

def proc_status_kib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                out[name] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        # fields after the ")" that closes the command name; utime, stime are 14th, 15th
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_memory(pid: int, stop: asyncio.Event, peak: dict):
    while not stop.is_set():
        try:
            status = proc_status_kib(pid)
        except OSError:
            return  # the server is gone; the report says so through its errors
        peak["rss_peak_sampled_kib"] = max(peak.get("rss_peak_sampled_kib", 0),
                                           status.get("VmRSS", 0))
        peak["threads_peak_sampled"] = max(peak.get("threads_peak_sampled", 0),
                                           status.get("Threads", 0))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
        except asyncio.TimeoutError:
            pass


# ------------------------------------------------------------------------- report

def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def latency_summary(latencies: list[float]) -> dict:
    values = sorted(latencies)
    return {"p50_s": percentile(values, 50), "p99_s": percentile(values, 99),
            "max_s": values[-1] if values else None}


def histogram(values) -> dict:
    return {str(k): v for k, v in sorted(Counter(values).items())}


async def run(args, png: bytes) -> dict:
    target = Target(args.url, args.token)
    request = edit_request(target, args, png)
    stop = asyncio.Event()
    gallery_samples, gallery_errors, server = [], Counter(), {}
    side_tasks = []
    if args.gallery_probe:
        pause = args.gallery_pause_ms / 1000
        side_tasks += [asyncio.create_task(gallery_worker(target, pause, stop, gallery_samples,
                                                          gallery_errors))
                       for _ in range(args.gallery_conns)]
    if args.pid:
        start = proc_status_kib(args.pid)
        server["rss_start_kib"] = start.get("VmRSS")
        server["threads_start"] = start.get("Threads")
        cpu_before = cpu_seconds(args.pid)
        side_tasks.append(asyncio.create_task(sample_memory(args.pid, stop, server)))

    started = time.monotonic()
    results = await edit_burst(target, args, request)
    wall = time.monotonic() - started
    stop.set()
    await asyncio.wait_for(asyncio.gather(*side_tasks), args.timeout)

    answered = [r for r in results if r["status"] is not None]
    ok = sum(r["ok"] for r in results)
    report = {
        "requests": args.requests, "concurrency": args.concurrency,
        "image_bytes": len(png), "prompt": args.prompt,
        "completed": len(answered), "ok": ok,
        "bad_success_body": sum(1 for r in answered if r["status"] == 200 and not r["ok"]),
        "status": histogram(r["status"] for r in answered),
        "errors": histogram(r["error"] for r in results if r["error"]),
        "wall_s": wall,
        "latency": latency_summary([r["latency"] for r in answered]),
    }
    if args.gallery_probe:
        report["gallery"] = {
            "connections": args.gallery_conns, "pause_ms": args.gallery_pause_ms,
            "count": len(gallery_samples),
            "status": histogram(s for _, s in gallery_samples),
            "errors": histogram(gallery_errors.elements()),
            "latency": latency_summary([t for t, _ in gallery_samples]),
        }
    if args.pid:
        try:
            server["vmhwm_kib"] = proc_status_kib(args.pid).get("VmHWM")
            server["cpu_s"] = cpu_seconds(args.pid) - cpu_before
            server["cpu_s_per_ok_edit"] = server["cpu_s"] / ok if ok else None
        except OSError:
            server["exited"] = True
        report["server"] = dict(server, pid=args.pid)
    return report


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_latency(lat: dict) -> str:
    return f"p50 {fmt_s(lat['p50_s'])}  p99 {fmt_s(lat['p99_s'])}  max {fmt_s(lat['max_s'])}"


def fmt_hist(hist: dict) -> str:
    return ", ".join(f"{k}×{v}" for k, v in hist.items()) or "none"


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def print_report(r: dict):
    print(f"edits: {r['requests']} requests, {r['concurrency']} in flight, "
          f"{r['image_bytes']} byte PNG, prompt {r['prompt']!r}")
    print(f"  completed {r['completed']}/{r['requests']} in {r['wall_s']:.2f} s wall, "
          f"ok {r['ok']}, 200 with a wrong body {r['bad_success_body']}")
    print(f"  status: {fmt_hist(r['status'])}")
    print(f"  errors: {fmt_hist(r['errors'])}")
    print(f"  latency: {fmt_latency(r['latency'])}")
    if "gallery" in r:
        g = r["gallery"]
        print(f"gallery during the burst ({g['connections']} connections, "
              f"{g['pause_ms']:g} ms pauses): {g['count']} "
              f"requests, status {fmt_hist(g['status'])}, errors {fmt_hist(g['errors'])}")
        print(f"  latency: {fmt_latency(g['latency'])}")
    if "server" in r:
        s = r["server"]
        if s.get("exited"):
            print(f"server pid {s['pid']}: exited during the run")
            return
        per_edit = s["cpu_s_per_ok_edit"]
        print(f"server pid {s['pid']}: RSS start {mib(s['rss_start_kib'])}, "
              f"peak sampled {mib(s.get('rss_peak_sampled_kib'))}, "
              f"VmHWM {mib(s['vmhwm_kib'])}; CPU {s['cpu_s']:.2f} s"
              + (f" ({per_edit * 1000:.1f} ms per ok edit)" if per_edit else "")
              + (", gallery probe included" if "gallery" in r else ""))
        print(f"  threads: start {s.get('threads_start', '-')}, "
              f"peak sampled {s.get('threads_peak_sampled', '-')}")


def client_cpu_line() -> str:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return f"bench client CPU {ru.ru_utime + ru.ru_stime:.2f} s"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_nofile_limit()
    if args.image:
        with open(args.image, "rb") as f:
            png = f.read()
    else:
        png = drawing_png(args.size)
    report = asyncio.run(run(args, png))
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
        print(client_cpu_line())


if __name__ == "__main__":
    main()
