"""The database behind the API, on whichever backend this run uses (SQLite, or
PostgreSQL when NOVADRAW_TEST_DATABASE_URL is set; see conftest.py): millisecond
times survive the round trip, servers starting together migrate once, several
servers on one database agree byte for byte, and a database that cannot be reached
stops start-up without printing its password.
"""
from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from conftest import PG_ADMIN_URL, base_env, free_port, pg_database_for, random_secret
from helpers import new_user, png_bytes

on_postgres = pytest.mark.skipif(not PG_ADMIN_URL, reason="needs NOVADRAW_TEST_DATABASE_URL")


def test_times_keep_their_milliseconds(server, user):
    """created_at is the same instant as the one written into the storage key."""
    d = server.upload(user, png_bytes(5, 5)).json()
    m = re.search(r"/original/(\d{8})_(\d{6})_(\d{3})_", d["uploaded_image_url"])
    assert m, d["uploaded_image_url"]
    day, hms, ms = m.groups()
    want = f"{day[:4]}-{day[4:6]}-{day[6:]}T{hms[:2]}:{hms[2:4]}:{hms[4:]}.{ms}Z"
    assert d["created_at"] == want
    assert server.get(f"/api/drawings/{d['id']}", user).json()["created_at"] == want
    assert server.gallery(user)["data"][0]["created_at"] == want


def test_servers_starting_together_migrate_once(server_factory, tmp_path):
    shared = tmp_path / "shared-data"
    env = {"DATA_DIR": str(shared), "JWT_SECRET": random_secret()}
    a = server_factory(env=env, start=False)
    b = server_factory(env=env, start=False)
    a.start(wait=False)
    b.start(wait=False)
    a.wait_healthy()
    b.wait_healthy()
    applied = len(re.findall(r"applied migration 1\b", a.log_text() + b.log_text()))
    assert applied == 1, f"migration 1 applied {applied} times"
    user = new_user()
    d = a.upload(user, png_bytes(3, 3)).json()
    assert b.get(f"/api/drawings/{d['id']}", user).status_code == 200


def test_two_servers_one_database_agree(server_factory, tmp_path):
    """Behind a load balancer: same database, same media folder, same public URL."""
    shared = tmp_path / "lb-data"
    env = {"DATA_DIR": str(shared), "JWT_SECRET": random_secret(),
           "PUBLIC_BASE_URL": "http://novadraw.example"}
    a = server_factory(env=env)
    b = server_factory(env=env)
    user, other = new_user(), new_user()
    made = [a.upload(user, png_bytes(4 + i, 4)).json() for i in range(3)]
    made.append(b.upload(user, png_bytes(9, 9)).json())

    for path in ("/api/drawings/gallery?page=1&limit=20", "/api/drawings/stats/summary",
                 f"/api/drawings/{made[0]['id']}"):
        ra, rb = a.get(path, user), b.get(path, user)
        assert ra.status_code == rb.status_code == 200
        assert ra.content == rb.content, path  # byte for byte
    assert a.gallery(user)["count"] == 4
    assert a.get(f"/api/drawings/{made[0]['id']}", other).status_code == 404

    r = b.delete(f"/api/drawings/{made[1]['id']}", user)
    assert r.status_code == 200, r.text
    for s in (a, b):
        assert s.get(f"/api/drawings/{made[1]['id']}", user).status_code == 404
        assert s.gallery(user)["count"] == 3
        assert s.stats(user)["total_drawings"] == 3


@on_postgres
def test_postgres_scheme_alias(server_factory, tmp_path):
    """postgres:// is accepted as well as postgresql://."""
    # a database of its own, so this server migrates from nothing
    url = pg_database_for(tmp_path / "alias").replace("postgresql://", "postgres://", 1)
    s = server_factory(env={"DATABASE_URL": url})
    assert "database postgres" in s.log_text()
    user = new_user()
    s.upload(user, png_bytes(2, 2))
    assert s.gallery(user)["count"] == 1


def test_unreachable_postgres_stops_startup_quietly(novadraw_bin, tmp_path):
    """Nothing listens there: start-up fails, naming the target but not the password."""
    password = "pw-" + uuid.uuid4().hex
    data = tmp_path / "data"
    data.mkdir()
    env = base_env()
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATA_DIR": str(data),
                "JWT_SECRET": random_secret(),
                "DATABASE_URL": f"postgresql://nd:{password}@127.0.0.1:1/novadraw?connect_timeout=3"})
    r = subprocess.run([novadraw_bin, "serve"], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert password not in r.stderr and password not in r.stdout
    assert "postgresql://nd:***@127.0.0.1:1/novadraw" in r.stderr, r.stderr
    r = subprocess.run([novadraw_bin, "migrate"], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert password not in r.stderr and password not in r.stdout
