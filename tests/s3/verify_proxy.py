"""A loopback S3 proxy that checks every request's AWS Signature V4 before
forwarding it to s3rver (which checks no V4 signature at all).

The oracle is botocore's own signer (botocore.auth.S3SigV4Auth for the
Authorization header, S3SigV4QueryAuth for presigned URLs): an implementation
independent of NovaDraw's src/storage/sigv4.c. For each request the proxy takes
the client's SignedHeaders list, rebuilds the request botocore would have signed
with the known credentials and the client's own X-Amz-Date, and compares the
signatures (constant time). Anything that does not verify gets 403
SignatureDoesNotMatch and never reaches s3rver. It also enforces what real S3
does and s3rver does not:

- x-amz-content-sha256 must be the body's SHA-256 (header auth);
- X-Amz-Date within 15 minutes (header auth); presigned URLs expire;
- the path and query must be percent-encoded the canonical AWS way;
- host, x-amz-date, x-amz-content-sha256, every x-amz-* header sent and
  content-type must be signed;
- anonymous GET/HEAD only of objects last PUT with x-amz-acl: public-read.

Every request is recorded (method, path, query, headers without Authorization,
how it authenticated, verdict, status) in `proxy.log` for assertions. Faults can
be injected: `fail_next(n, status)` answers the next n requests itself.

In-process use: VerifyProxy(upstream, access_key, secret, region).start()
Standalone:     python3 verify_proxy.py --upstream http://127.0.0.1:4568 --port 9000 \
                    --access-key S3RVER --secret S3RVER
"""
from __future__ import annotations

import argparse
import calendar
import hashlib
import hmac
import http.client
import http.server
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade"}
MAX_SKEW = 15 * 60
MAX_BODY = 600 << 20


@dataclass
class Seen:
    method: str
    path: str                 # raw (as sent, percent-encoded), without the query
    query: str                # raw
    headers: dict             # lowercased names; Authorization left out
    auth: str = "anonymous"   # "header" | "presigned" | "anonymous"
    verified: bool = False
    error: str = ""           # why it was refused ("" if forwarded)
    status: int = 0           # what the client got
    body_len: int = 0
    injected: bool = False    # answered by fail_next()

    @property
    def key(self) -> str:
        """The object key (decoded) for a path-style /bucket/key request, else ""."""
        parts = urllib.parse.unquote(self.path).split("/", 2)
        return parts[2] if len(parts) == 3 else ""


@dataclass
class _Fault:
    remaining: int
    status: int
    methods: tuple | None


class SigV4Error(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _canonical_component(raw: str, safe: str) -> bool:
    return urllib.parse.quote(urllib.parse.unquote(raw), safe=safe) == raw


def _amz_time(stamp: str) -> int:
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))


class VerifyProxy:
    def __init__(self, upstream: str, access_key: str, secret: str, region: str = "us-east-1",
                 host: str = "127.0.0.1", port: int = 0):
        u = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = u.hostname, u.port or 80
        self.access_key, self.secret, self.region = access_key, secret, region
        self.log: list[Seen] = []
        self.public: set[str] = set()  # keys last PUT public-read
        self._faults: list[_Fault] = []
        self._hold: tuple | None = None  # (methods, threading.Event): requests wait on it
        self._lock = threading.Lock()
        self.max_keys: int | None = None  # forces ListObjectsV2 pagination when set
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _any(self):
                proxy._handle(self)

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = _any

        self._srv = http.server.ThreadingHTTPServer((host, port), Handler)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    # ------------------------------------------------------------------ control
    def start(self) -> "VerifyProxy":
        self._thread.start()
        return self

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()

    def fail_next(self, n: int, status: int = 503, methods: tuple | None = None):
        """Answer the next n requests (of these methods) with `status`, not forwarding them."""
        with self._lock:
            self._faults.append(_Fault(n, status, methods))

    def hold(self, methods: tuple):
        """Make requests of these methods wait (unanswered) until release()."""
        with self._lock:
            self._hold = (methods, threading.Event())

    def release(self):
        with self._lock:
            held, self._hold = self._hold, None
        if held:
            held[1].set()

    def clear(self):
        self.release()
        with self._lock:
            self.log.clear()
            self._faults.clear()

    def seen(self, method: str | None = None, **kw) -> list[Seen]:
        with self._lock:
            out = list(self.log)
        return [s for s in out if (method is None or s.method == method)
                and all(getattr(s, k) == v for k, v in kw.items())]

    def refused(self) -> list[Seen]:
        return [s for s in self.seen() if s.error and not s.injected]

    # ------------------------------------------------------------------ verification
    def _verify_header(self, method, host, path, query, headers, body) -> None:
        auth = headers.get("authorization", "")
        scheme, _, rest = auth.partition(" ")
        if scheme != "AWS4-HMAC-SHA256":
            raise SigV4Error(400, "InvalidArgument", "unsupported Authorization scheme")
        fields = {}
        for part in rest.split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        try:
            cred, signed, provided = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        except KeyError:
            raise SigV4Error(400, "AuthorizationHeaderMalformed", "missing Authorization field")
        ak, date, region, service, term = (cred.split("/") + [""] * 5)[:5]
        amz_date = headers.get("x-amz-date", "")
        if ak != self.access_key:
            raise SigV4Error(403, "InvalidAccessKeyId", "unknown access key")
        if region != self.region or service != "s3" or term != "aws4_request":
            raise SigV4Error(400, "AuthorizationHeaderMalformed", f"bad scope {cred!r}")
        if not amz_date or date != amz_date[:8]:
            raise SigV4Error(400, "AuthorizationHeaderMalformed", "scope date != x-amz-date")
        if abs(time.time() - _amz_time(amz_date)) > MAX_SKEW:
            raise SigV4Error(403, "RequestTimeTooSkewed", "x-amz-date too far from now")
        signed_list = signed.split(";")
        if signed_list != sorted(signed_list):
            raise SigV4Error(400, "AuthorizationHeaderMalformed", "SignedHeaders not sorted")
        must = {"host", "x-amz-date", "x-amz-content-sha256"}
        must |= {h for h in headers if h.startswith("x-amz-")}
        if "content-type" in headers:
            must.add("content-type")
        missing = must - set(signed_list)
        if missing:
            raise SigV4Error(403, "AccessDenied", f"headers sent but not signed: {sorted(missing)}")
        want_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-amz-content-sha256") != want_hash:
            raise SigV4Error(400, "XAmzContentSHA256Mismatch", "payload hash does not match body")
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        req = AWSRequest(method=method, url=url, data=body,
                         headers={h: headers.get(h, "") for h in signed_list})
        req.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(self.access_key, self.secret), "s3", self.region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, provided):
            raise SigV4Error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature "
                             "you provided.")

    def _verify_presigned(self, method, host, path, query) -> None:
        pairs = [p.partition("=") for p in query.split("&") if p]
        q = {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, _, v in pairs}
        if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise SigV4Error(400, "AuthorizationQueryParametersError", "bad X-Amz-Algorithm")
        ak, date, region, service, term = (q.get("X-Amz-Credential", "").split("/") + [""] * 5)[:5]
        amz_date, expires = q.get("X-Amz-Date", ""), q.get("X-Amz-Expires", "")
        if ak != self.access_key:
            raise SigV4Error(403, "InvalidAccessKeyId", "unknown access key")
        if region != self.region or service != "s3" or term != "aws4_request" or \
                date != amz_date[:8]:
            raise SigV4Error(400, "AuthorizationQueryParametersError", "bad credential scope")
        if not expires.isdigit() or not 1 <= int(expires) <= 604800:
            raise SigV4Error(400, "AuthorizationQueryParametersError", "bad X-Amz-Expires")
        if q.get("X-Amz-SignedHeaders") != "host":
            raise SigV4Error(400, "AuthorizationQueryParametersError", "expected host only")
        start = _amz_time(amz_date)
        if time.time() > start + int(expires):
            raise SigV4Error(403, "AccessDenied", "Request has expired")
        if start > time.time() + MAX_SKEW:
            raise SigV4Error(403, "RequestTimeTooSkewed", "X-Amz-Date in the future")
        unsigned = "&".join(f"{k}={v}" for k, _, v in pairs if k != "X-Amz-Signature")
        req = AWSRequest(method=method, url=f"http://{host}{path}?{unsigned}",
                         headers={"host": host})
        req.context["timestamp"] = amz_date
        signer = S3SigV4QueryAuth(Credentials(self.access_key, self.secret), "s3", self.region,
                                  expires=int(expires))
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, q.get("X-Amz-Signature", "")):
            raise SigV4Error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature "
                             "you provided.")

    def _check_encoding(self, path: str, query: str):
        if not _canonical_component(path, "/~"):
            raise SigV4Error(400, "InvalidURI", f"path not canonically encoded: {path!r}")
        for p in filter(None, query.split("&")):
            k, _, v = p.partition("=")
            if not (_canonical_component(k, "~") and _canonical_component(v, "~")):
                raise SigV4Error(400, "InvalidURI", f"query not canonically encoded: {p!r}")

    # ------------------------------------------------------------------ one request
    def _handle(self, h: http.server.BaseHTTPRequestHandler):
        method = h.command
        path, _, query = h.path.partition("?")
        headers = {}
        for k, v in h.headers.items():
            lk = k.lower()
            headers[lk] = f"{headers[lk]},{v}" if lk in headers else v
        seen = Seen(method, path, query, {k: v for k, v in headers.items() if k != "authorization"})
        with self._lock:
            self.log.append(seen)
        n = int(headers.get("content-length", "0") or 0)
        if "chunked" in headers.get("transfer-encoding", "") or n > MAX_BODY:
            return self._reply(h, seen, 411, "MissingContentLength", "send a Content-Length")
        body = h.rfile.read(n) if n else b""
        seen.body_len = len(body)

        with self._lock:
            held = self._hold if self._hold and method in self._hold[0] else None
        if held:
            held[1].wait(60)
        with self._lock:
            fault = next((f for f in self._faults
                          if f.remaining > 0 and (f.methods is None or method in f.methods)), None)
            if fault:
                fault.remaining -= 1
        if fault:
            seen.injected = True
            return self._reply(h, seen, fault.status, "ServiceUnavailable" if fault.status >= 500
                               else "SlowDown", "injected fault")

        host = headers.get("host", "")
        key = seen.key
        try:
            self._check_encoding(path, query)
            if "authorization" in headers:
                seen.auth = "header"
                self._verify_header(method, host, path, query, headers, body)
            elif "X-Amz-Signature=" in query:
                seen.auth = "presigned"
                if method not in ("GET", "HEAD"):
                    raise SigV4Error(403, "AccessDenied", "presigned URLs are for GET only here")
                self._verify_presigned(method, host, path, query)
            else:
                with self._lock:
                    public = key in self.public
                if method not in ("GET", "HEAD") or not key or not public:
                    raise SigV4Error(403, "AccessDenied", "Access Denied")
            seen.verified = True
        except SigV4Error as e:
            return self._reply(h, seen, e.status, e.code, e.message)

        fwd_query = query
        if self.max_keys and method == "GET" and "list-type=2" in query and key == "":
            fwd_query = (query + "&" if query else "") + f"max-keys={self.max_keys}"
        status, rheaders, rbody = self._forward(method, path + (f"?{fwd_query}" if fwd_query else ""),
                                                headers, body)
        if method == "PUT" and key and 200 <= status < 300:
            with self._lock:
                if headers.get("x-amz-acl") == "public-read":
                    self.public.add(key)
                else:
                    self.public.discard(key)
        if method == "DELETE" and key and 200 <= status < 300:
            with self._lock:
                self.public.discard(key)
        seen.status = status
        h.send_response(status)
        for k, v in rheaders:
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(rbody)) if method != "HEAD" else
                      dict((k.lower(), v) for k, v in rheaders).get("content-length", "0"))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(rbody)

    def _forward(self, method, target, headers, body):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            fwd = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in fwd.items():
                conn.putheader(k, v)
            if "content-length" not in fwd and method in ("PUT", "POST"):
                conn.putheader("content-length", str(len(body)))
            conn.endheaders(body if body else None)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            conn.close()

    def _reply(self, h, seen: Seen, status: int, code: str, message: str):
        seen.status, seen.error = status, f"{code}: {message}"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--access-key", default="S3RVER")
    ap.add_argument("--secret", default="S3RVER")
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args()
    p = VerifyProxy(a.upstream, a.access_key, a.secret, a.region, port=a.port).start()
    print(p.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        p.stop()


if __name__ == "__main__":
    main()
