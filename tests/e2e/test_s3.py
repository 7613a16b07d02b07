"""S3 storage end to end: a real `novadraw serve` storing into s3rver through the
SigV4-verifying proxy (tests/s3/verify_proxy.py, botocore as the oracle). Objects
are read back with boto3 straight from s3rver and compared byte for byte.
"""
from __future__ import annotations

import calendar
import os
import pathlib
import subprocess
import time
import urllib.parse

import boto3
import pytest
import requests
from botocore.config import Config

from helpers import new_user, noisy_png, png_bytes, wait_until

CACHE_CONTROL = "public, max-age=31536000, immutable"


def s3_server(server_factory, s3, **env):
    return server_factory(env=s3.env(**env))


def assert_all_verified(s3):
    """Every request the server signed (Authorization header) verified; the tests' own
    anonymous or presigned GETs are checked where they are made."""
    signed = [x for x in s3.proxy.seen() if x.auth == "header" and not x.injected]
    assert signed, "the server sent the bucket nothing"
    bad = [(x.method, x.path, x.error) for x in signed if x.error or not x.verified]
    assert not bad, f"requests the proxy refused: {bad}"


def assert_no_secret_in_logs(srv, s3):
    text = srv.log_text() + srv.stdout_path.read_text(errors="replace")
    assert s3.secret not in text
    assert "Signature=" not in text and "AWS4-HMAC-SHA256" not in text


def puts_of(s3, key):
    return [x for x in s3.proxy.seen("PUT") if x.key == key and not x.injected]


# ------------------------------------------------------------------ the oracle itself

def test_proxy_oracle_accepts_botocore_and_refuses_tampering(s3):
    """The proxy must accept what botocore signs and refuse a wrong secret or a changed
    request, else the rest of this file proves nothing."""
    def client(secret):
        return boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="S3RVER",
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(signature_version="s3v4", retries={"max_attempts": 1},
                                          s3={"addressing_style": "path"}))
    good, bad = client(s3.secret), client("not-" + s3.secret)
    good.put_object(Bucket=s3.bucket, Key="o/a b+c~é.png", Body=b"abc", ContentType="image/png")
    assert s3.get("o/a b+c~é.png") == b"abc"
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        bad.put_object(Bucket=s3.bucket, Key="o/x.png", Body=b"x")
    url = good.generate_presigned_url("get_object", ExpiresIn=60,
                                      Params={"Bucket": s3.bucket, "Key": "o/a b+c~é.png"})
    assert requests.get(url, timeout=10).content == b"abc"
    assert requests.get(url.replace("o/a", "o/b"), timeout=10).status_code == 403
    assert requests.get(url.replace("Expires=60", "Expires=61"), timeout=10).status_code == 403
    assert s3.keys("o/") == ["o/a b+c~é.png"]


# ------------------------------------------------------------------ public-read

def test_upload_stores_original_and_thumbnail_in_bucket(s3, server_factory):
    srv = s3_server(server_factory, s3)
    user = new_user()
    d = srv.upload(user, png_bytes(64, 48)).json()
    orig, thumb = s3.key_of(d["uploaded_image_url"]), s3.key_of(d["thumbnail_url"])
    assert orig.startswith(f"users/{user}/original/") and orig.endswith(".png")
    assert thumb.startswith(f"users/{user}/thumbnail/") and thumb.endswith(".webp")
    assert sorted(s3.keys()) == sorted([orig, thumb])

    # byte for byte: straight from s3rver == what a client fetches from the URL
    for url, key, ctype in ((d["uploaded_image_url"], orig, "image/png"),
                            (d["thumbnail_url"], thumb, "image/webp")):
        stored = s3.get(key)
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.content == stored
        assert s3.head(key)["ContentType"] == ctype
        (put,) = puts_of(s3, key)
        assert put.headers.get("x-amz-acl") == "public-read"
        assert put.headers.get("content-type") == ctype
        assert put.headers.get("cache-control") == CACHE_CONTROL
        assert int(put.headers["content-length"]) == len(stored) == put.body_len
        assert "expect" not in put.headers
    assert stored[:4] == b"RIFF"
    assert_all_verified(s3)

    # the API hands the same URLs back
    g = srv.gallery(user)
    assert g["data"][0]["uploaded_image_url"] == d["uploaded_image_url"]
    srv.stop_and_check()
    assert_no_secret_in_logs(srv, s3)


def test_large_upload_has_no_expect_header(s3, server_factory):
    srv = s3_server(server_factory, s3)
    d = srv.upload(new_user(), noisy_png(900, 900, seed=7)).json()
    key = s3.key_of(d["uploaded_image_url"])
    (put,) = puts_of(s3, key)
    assert put.body_len > 1 << 20  # past curl's 100-continue threshold
    assert "expect" not in put.headers
    assert s3.get(key) == requests.get(d["uploaded_image_url"], timeout=10).content
    assert_all_verified(s3)


def test_concurrent_uploads_share_the_http_client(s3, server_factory):
    from concurrent.futures import ThreadPoolExecutor
    srv = s3_server(server_factory, s3)
    user = new_user()
    with ThreadPoolExecutor(12) as ex:
        ds = list(ex.map(lambda i: srv.upload(user, png_bytes(8 + i, 8)).json(), range(24)))
    keys = {s3.key_of(d[f]) for d in ds for f in ("uploaded_image_url", "thumbnail_url")}
    assert len(keys) == 48 and keys == set(s3.keys())
    for d in ds[:4]:
        assert requests.get(d["uploaded_image_url"], timeout=10).content == \
            s3.get(s3.key_of(d["uploaded_image_url"]))
    assert_all_verified(s3)


def test_spaces_public_url_is_the_url_base(s3, server_factory):
    srv = s3_server(server_factory, s3, SPACES_PUBLIC_URL="https://cdn.example.com/nd/")
    d = srv.upload(new_user(), png_bytes(8, 8)).json()
    assert d["uploaded_image_url"].startswith("https://cdn.example.com/nd/users/")
    key = d["uploaded_image_url"][len("https://cdn.example.com/nd/"):]
    assert key in s3.keys()


def test_delete_removes_all_objects(s3, server_factory):
    srv = s3_server(server_factory, s3)
    user = new_user()
    keep = srv.upload(user, png_bytes(8, 8)).json()
    d = srv.upload(user, png_bytes(8, 8, color=(0, 0, 255))).json()
    gone = {s3.key_of(d["uploaded_image_url"]), s3.key_of(d["thumbnail_url"])}
    kept = {s3.key_of(keep["uploaded_image_url"]), s3.key_of(keep["thumbnail_url"])}
    assert set(s3.keys()) == gone | kept

    r = srv.delete("/api/drawings/" + d["id"], user)
    assert r.status_code == 200, r.text
    assert set(s3.keys()) == kept
    assert {x.key for x in s3.proxy.seen("DELETE")} == gone
    # anonymous GET of a missing key: 403, as S3 answers when the caller may not list
    # the bucket (the proxy enforces it; s3.keys() above shows the object is gone)
    assert requests.get(d["uploaded_image_url"], timeout=10).status_code == 403
    assert_all_verified(s3)


# ------------------------------------------------------------------ failures

def test_wrong_secret_keeps_the_upload_until_the_secret_is_right(s3, server_factory):
    srv = s3_server(server_factory, s3, SPACES_SECRET="wrong-" + s3.secret)
    user = new_user()
    d = srv.upload(user, png_bytes(8, 8), expect=201).json()
    assert "/media/pending/" in d["uploaded_image_url"]  # kept in the database
    assert s3.keys() == []
    assert srv.gallery(user)["count"] == 1
    refused = s3.proxy.refused()
    assert refused and all("SignatureDoesNotMatch" in x.error for x in refused)
    assert len(s3.proxy.seen("PUT")) == 2  # a 403 is not retried: one PUT per object
    srv.stop_and_check()
    assert "wrong-" not in srv.log_text()
    # nothing lost: the server with the right secret stores it (the same data directory)
    ok = s3_server(server_factory, s3, DATA_DIR=srv.env["DATA_DIR"])
    wait_until(lambda: len(s3.keys()) == 2, 30, "the kept upload to be stored")
    d2 = ok.get("/api/drawings/" + d["id"], user).json()
    assert s3.key_of(d2["uploaded_image_url"]) in s3.keys()


def test_5xx_is_retried_with_backoff(s3, server_factory):
    srv = s3_server(server_factory, s3)
    s3.proxy.fail_next(2, 503, methods=("PUT",))
    d = srv.upload(new_user(), png_bytes(8, 8)).json()
    # the image and its thumbnail are sent at once: the two 503s fall on either
    keys = [s3.key_of(d["uploaded_image_url"]), s3.key_of(d["thumbnail_url"])]
    statuses = [[x.status for x in s3.proxy.seen("PUT") if x.key == k] for k in keys]
    assert all(st and st[-1] == 200 and set(st[:-1]) <= {503} for st in statuses), statuses
    assert sum(len(st) - 1 for st in statuses) == 2
    assert set(keys) <= set(s3.keys())

    s3.proxy.fail_next(2, 429, methods=("PUT",))
    srv.upload(new_user(), png_bytes(8, 8), expect=201)
    assert_all_verified(s3)


def test_persistent_5xx_keeps_the_upload_after_bounded_retries(s3, server_factory):
    srv = s3_server(server_factory, s3)
    user = new_user()
    s3.proxy.fail_next(6, 500, methods=("PUT",))
    d = srv.upload(user, png_bytes(8, 8), expect=201).json()
    assert len(s3.proxy.seen("PUT")) == 6  # three attempts per object, then kept
    assert "/media/pending/" in d["uploaded_image_url"]
    assert srv.gallery(user)["count"] == 1


def test_unreachable_bucket_keeps_the_upload(server_factory, tmp_path):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = server_factory(env={"SPACES_KEY": "k", "SPACES_SECRET": "s",
                              "STORAGE_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    d = srv.upload(new_user(), png_bytes(8, 8), expect=201).json()
    assert "/media/pending/" in d["uploaded_image_url"]


# ------------------------------------------------------------------ private

def test_private_mode_presigned_urls_work_then_expire(s3, server_factory):
    srv = s3_server(server_factory, s3, STORAGE_ACL="private", SIGNED_URL_TTL="2",
                    SPACES_PUBLIC_URL="https://cdn.example.com")
    user = new_user()
    d = srv.upload(user, png_bytes(16, 16)).json()
    url = d["uploaded_image_url"]
    assert url.startswith(f"{s3.endpoint}/{s3.bucket}/users/")  # the CDN cannot presign
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert q["X-Amz-Expires"] == ["2"] and q["X-Amz-SignedHeaders"] == ["host"]
    key = s3.key_of(url)
    (put,) = puts_of(s3, key)
    assert "x-amz-acl" not in put.headers
    assert put.headers.get("cache-control") == CACHE_CONTROL

    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == s3.get(key)
    assert requests.get(d["thumbnail_url"], timeout=10).content == s3.get(s3.key_of(d["thumbnail_url"]))
    # no signature, no object: the bucket is private
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    presigned = [x for x in s3.proxy.seen("GET") if x.auth == "presigned"]
    assert len(presigned) == 2 and all(x.verified and x.status == 200 for x in presigned)

    # past the TTL the same URL is refused; the API hands out a fresh one. Expiry is
    # wall-clock time: wait until X-Amz-Date + X-Amz-Expires has passed (what the proxy,
    # like S3, checks), and no longer. TTL 2 s, not the minimum 1: the URL must still
    # work for the two GETs above.
    signed_at = calendar.timegm(time.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    time.sleep(max(0.0, signed_at + int(q["X-Amz-Expires"][0]) - time.time()) + 0.05)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403 and "expired" in s3.proxy.seen("GET")[-1].error
    fresh = srv.get("/api/drawings/" + d["id"], user).json()["uploaded_image_url"]
    assert fresh != url
    assert requests.get(fresh, timeout=10).content == s3.get(key)
    assert_all_verified(s3)


# ------------------------------------------------------------------ CLI and contract

def test_storage_check_cli(s3, server_factory):
    srv = server_factory(env=s3.env(), start=False)
    r = srv.cli("storage", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for want in (f"endpoint:    {s3.endpoint}", f"bucket:      {s3.bucket}",
                 "region:      us-east-1", "acl:         public-read", "access key:  set",
                 "secret key:  set", "reachable:   yes", "writable:    yes"):
        assert want in out, out
    assert s3.secret not in out + r.stderr
    assert [x.method for x in s3.proxy.seen()] == ["HEAD", "PUT", "DELETE"]
    assert s3.proxy.seen("PUT")[0].key.startswith("users/.probe/")
    assert s3.keys() == []  # the probe cleaned up after itself
    assert_all_verified(s3)

    r = srv.cli("storage", "check", env={"SPACES_SECRET": "nope"})
    assert r.returncode == 1 and "reachable:   no" in r.stdout and "writable:    no" in r.stdout
    assert "nope" not in r.stdout + r.stderr
    r = srv.cli("storage", "check", env={"SPACES_BUCKET": "no-such-bucket-here"})
    assert r.returncode == 1 and "reachable:   no (not_found)" in r.stdout
    r = srv.cli("storage", "check", env={"STORAGE_ACL": "private", "SPACES_REGION": "us-east-1"})
    assert r.returncode == 0 and "presigned, valid 3600 s" in r.stdout
    r = srv.cli("storage", "check", env={"SPACES_REGION": "nyc3"})
    assert r.returncode == 1 and "region:      nyc3\n" in r.stdout  # the proxy expects us-east-1
    r = srv.cli("storage", "bogus")
    assert r.returncode == 2


def test_storage_check_cli_local(server_factory):
    srv = server_factory(start=False)
    r = srv.cli("storage", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "backend:     local" in r.stdout and "writable:    yes" in r.stdout
    assert not list((srv.data_dir / "media" / "users" / ".probe").glob("*"))


def test_storage_contract_unit_test_against_s3(s3, novadraw_bin):
    """tests/unit/test_storage.c's contract (and listing) against the real backend, with
    the proxy forcing two keys per ListObjectsV2 page so pagination is exercised."""
    binary = pathlib.Path(novadraw_bin).parent / "test_storage"
    if not binary.exists():
        pytest.fail(f"{binary} not built")
    s3.proxy.max_keys = 2
    env = dict(os.environ, NOVADRAW_TEST_S3_ENDPOINT=s3.endpoint, NOVADRAW_TEST_S3_KEY="S3RVER",
               NOVADRAW_TEST_S3_SECRET=s3.secret, NOVADRAW_TEST_S3_BUCKET=s3.bucket)
    r = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    lists = [x for x in s3.proxy.seen("GET") if "list-type=2" in x.query]
    assert any("continuation-token=" in x.query for x in lists)
    assert_all_verified(s3)
    assert s3.keys() == []
