"""`novadraw gc [--dry-run] [--older-than DURATION]`: an unreferenced object older than
the grace is deleted, every referenced object (originals, edits, thumbnails) stays, a
young orphan stays, and --dry-run deletes nothing. Local storage and S3 (through the
verifying proxy); on SQLite and, in the PostgreSQL pass, on PostgreSQL.
"""
from __future__ import annotations

import os
import secrets
import time
import uuid

from helpers import new_user, png_bytes

DAY = 86400


def orphan_key(user: str) -> str:
    return f"users/{user}/original/20200101_000000_000_{secrets.token_hex(16)}.png"


def make_rows(srv, user):
    """One upload and one edit (original, edited image and both thumbnails)."""
    r = srv.upload(user, png_bytes(16, 16))
    assert r.status_code == 201, r.text
    files = {"file": ("d.png", png_bytes(16, 16, color=(0, 90, 200)), "image/png")}
    r = srv.request("POST", "/api/edit-image", user, files=files,
                    data={"prompt": "make it black and white"})
    assert r.status_code == 200, r.text


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_gc_local(server_factory):
    srv = server_factory()
    user = new_user()
    make_rows(srv, user)
    media = srv.data_dir / "media"
    referenced = {p for p in (media / "users" / user).rglob("*") if p.is_file()}
    assert len(referenced) >= 6
    for p in referenced:
        age(p, 3 * DAY)  # old, but referenced: must stay
    old = media / orphan_key(user)
    young = media / orphan_key(str(uuid.uuid4()))
    for p in (old, young):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"orphan")
    age(old, 2 * DAY)

    r = srv.cli("gc", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"would delete {old.relative_to(media)}" in r.stdout
    assert str(young.relative_to(media)) not in r.stdout
    assert old.exists() and young.exists()

    r = srv.cli("gc")
    assert r.returncode == 0, r.stderr
    assert f"deleted {old.relative_to(media)}\n" in r.stdout
    assert r.stdout.count("deleted users/") == 1, r.stdout
    assert not old.exists() and young.exists()
    assert all(p.exists() for p in referenced)

    r = srv.cli("gc", "--older-than", "30m")  # the young orphan is seconds old: kept
    assert r.returncode == 0 and young.exists(), r.stdout
    age(young, 3600)
    r = srv.cli("gc", "--older-than", "1800s")
    assert r.returncode == 0 and not young.exists(), r.stdout
    assert all(p.exists() for p in referenced)
    assert srv.stats(user)["total_drawings"] == 2


def test_gc_usage(server_factory):
    srv = server_factory(start=False)
    for bad in (["--older-than", "soon"], ["--older-than", "5y"], ["extra"]):
        r = srv.cli("gc", *bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
    r = srv.cli("gc")
    assert r.returncode == 0, r.stderr
    assert "0 objects listed" in r.stdout


def test_gc_s3(s3, server_factory):
    srv = server_factory(env=s3.env())
    user = new_user()
    make_rows(srv, user)
    referenced = set(s3.keys())
    assert len(referenced) >= 6
    orphan = orphan_key(user)
    s3.client.put_object(Bucket=s3.bucket, Key=orphan, Body=b"orphan")

    # everything is young under the default grace
    r = srv.cli("gc", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would delete" not in r.stdout
    # gc judges age by the object's LastModified (as listed); 1 s is the smallest non-zero grace
    # the CLI's durations express, so the orphan must become 1 s old: wall-clock time
    # has to pass, and no more than that
    (listed,) = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=orphan)["Contents"]
    old_at = listed["LastModified"].timestamp() + 1.0
    time.sleep(max(0.0, old_at - time.time()) + 0.01)
    r = srv.cli("gc", "--dry-run", "--older-than", "1s")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("would delete") == 1 and orphan in r.stdout
    assert set(s3.keys()) == referenced | {orphan}

    r = srv.cli("gc", "--older-than", "1s")
    assert r.returncode == 0, r.stderr
    assert f"deleted {orphan}\n" in r.stdout
    assert set(s3.keys()) == referenced
    deletes = [x for x in s3.proxy.seen("DELETE") if not x.injected]
    assert [x.key for x in deletes] == [orphan]
    assert all(x.verified and not x.error for x in deletes)
