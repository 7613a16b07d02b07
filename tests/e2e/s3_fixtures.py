"""S3 fixtures for the end-to-end suite: s3rver (npm, installed by `make s3deps` into
tests/s3/node_modules), a fresh bucket per test, the SigV4-verifying proxy in front
of it (tests/s3/verify_proxy.py) and boto3 talking to s3rver directly.

    def test_x(s3, server_factory):
        srv = server_factory(env=s3.env())          # NovaServer storing in s3.bucket
        ...
        s3.objects()                                # {key: bytes} straight from s3rver
        s3.proxy.seen("PUT")                        # what the server sent, verified

s3rver checks no V4 signature; the proxy does, with botocore's signer and the
secret below, so a server given any other secret is refused with 403.
"""
from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "s3"))

from verify_proxy import VerifyProxy  # noqa: E402

S3RVER_BIN = REPO / "tests" / "s3" / "node_modules" / ".bin" / "s3rver"
ACCESS_KEY = "S3RVER"  # the one access key s3rver knows
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_has_legacy_provider() -> bool:
    r = subprocess.run(["node", "--openssl-legacy-provider", "-e", "0"],
                       stdin=subprocess.DEVNULL, capture_output=True)
    return r.returncode == 0


class S3rver:
    def __init__(self, directory: pathlib.Path):
        if not S3RVER_BIN.exists():
            pytest.fail(f"s3rver is not installed at {S3RVER_BIN}: run `make s3deps`")
        if not shutil.which("node"):
            pytest.fail("node is not installed: run scripts/deps.sh")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = directory
        self.log_path = directory.parent / "s3rver.log"
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.pop("NODE_OPTIONS", None)
        if _node_has_legacy_provider():
            # s3rver's ListObjectsV2 continuation tokens use DES, which the OpenSSL 3
            # in node >= 17 only offers through its legacy provider.
            env["NODE_OPTIONS"] = "--openssl-legacy-provider"
        self.proc = subprocess.Popen(
            [str(S3RVER_BIN), "-d", str(directory), "-a", "127.0.0.1", "-p", str(self.port),
             "--silent", "--no-vhost-buckets"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"s3rver exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("s3rver did not start listening within 20 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def boto3_client(endpoint: str):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key="S3RVER", region_name=REGION,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


class S3Env:
    """One test's bucket, its verifying proxy and a direct boto3 client."""

    def __init__(self, rver: S3rver, bucket: str, secret: str):
        self.rver = rver
        self.bucket = bucket
        self.secret = secret
        self.client = boto3_client(rver.url)
        self.client.create_bucket(Bucket=bucket)
        self.proxy = VerifyProxy(rver.url, ACCESS_KEY, secret, REGION).start()
        self.endpoint = self.proxy.url

    def env(self, **over) -> dict:
        """NovaServer environment storing into this bucket through the proxy."""
        e = {"SPACES_KEY": ACCESS_KEY, "SPACES_SECRET": self.secret,
             "STORAGE_ENDPOINT_URL": self.endpoint, "SPACES_BUCKET": self.bucket}
        e.update(over)
        return e

    def keys(self, prefix: str = "") -> list[str]:
        out, token = [], None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = self.client.list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            token = r["NextContinuationToken"]

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict:
        return self.client.head_object(Bucket=self.bucket, Key=key)

    def objects(self, prefix: str = "") -> dict:
        return {k: self.get(k) for k in self.keys(prefix)}

    def key_of(self, url: str) -> str:
        """The key of a public or presigned object URL of this bucket."""
        base = f"{self.endpoint}/{self.bucket}/"
        assert url.startswith(base), f"{url} is not an object URL of {base}"
        import urllib.parse
        return urllib.parse.unquote(url[len(base):].split("?", 1)[0])

    def close(self):
        self.proxy.stop()


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory):
    d = tmp_path_factory.mktemp("s3rver") / "data"
    d.mkdir()
    r = S3rver(d)
    yield r
    r.stop()


@pytest.fixture
def s3(s3rver):
    """A fresh bucket on the session's s3rver behind a fresh verifying proxy."""
    env = S3Env(s3rver, "nd-" + uuid.uuid4().hex[:16], "sk-" + secrets.token_hex(20))
    yield env
    env.close()
