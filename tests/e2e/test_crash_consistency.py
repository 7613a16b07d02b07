"""Crash consistency (SPEC section 15): the server is killed with SIGKILL at random
moments of a burst of uploads, edits and deletions, restarted on the same database and
storage, and then: the database is consistent, every drawing the server answered 201
for (and did not answer a deletion of) is there with every object readable, every
edit it answered 200 for is listed, nothing half-written is visible, and `novadraw gc`
removes what the interrupted requests left in storage. Runs on SQLite and, in the
PostgreSQL pass, on PostgreSQL; with local storage and with S3 (s3rver)."""
import io
import os
import random
import signal
import threading
import time

import pytest
import requests
from PIL import Image

from helpers import new_user, noisy_png, wait_until

CYCLES = 3
WORKERS = 4


class Burst:
    """What the clients were told: answered operations only; the rest is ambiguous."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created: dict[str, list[str]] = {}  # id -> URLs of its objects from answers
        self.edits: dict[str, list[str]] = {}  # id -> edited URLs answered 200
        self.deleted: set[str] = set()  # answered 200
        self.maybe_deleted: set[str] = set()  # a deletion without an answer
        self.answered = 0


def burst(srv, user: str, state: Burst, stop: threading.Event, seed: int):
    rng = random.Random(seed)
    http = requests.Session()
    http.trust_env = False
    headers = srv.auth(user)
    while not stop.is_set():
        with state.lock:
            alive = [i for i in state.created if i not in state.deleted | state.maybe_deleted]
        op = rng.random()
        try:
            if op < 0.5 or not alive:
                side = rng.randint(16, 160)
                r = http.post(srv.base + "/api/drawings", headers=headers, timeout=30,
                              files={"file": ("d.png", noisy_png(side, side, seed=rng.random()),
                                              "image/png")})
                if r.status_code == 201:
                    d = r.json()
                    with state.lock:
                        state.created[d["id"]] = [d["uploaded_image_url"], d["thumbnail_url"]]
            elif op < 0.8:
                did = rng.choice(alive)
                r = http.post(srv.base + f"/api/drawings/{did}/edits", headers=headers, timeout=30,
                              files={"prompt": (None, rng.choice(["make it brighter", "blur it",
                                                                  "rotate it left"]))})
                if r.status_code == 200:
                    with state.lock:
                        state.edits.setdefault(did, []).append(r.json()["result_image"])
            else:
                did = rng.choice(alive)
                with state.lock:
                    state.maybe_deleted.add(did)
                r = http.delete(srv.base + f"/api/drawings/{did}", headers=headers, timeout=30)
                if r.status_code == 200:
                    with state.lock:
                        state.deleted.add(did)
                        state.maybe_deleted.discard(did)
            with state.lock:
                state.answered += 1
        except requests.RequestException:
            if stop.is_set():
                return  # killed under our feet: this one stays ambiguous
            raise
    http.close()


def readable(srv, url: str):
    r = srv.http.get(url, timeout=10)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    img = Image.open(io.BytesIO(r.content))
    img.load()  # the whole file decodes: nothing half-written
    assert img.format in ("PNG", "WEBP"), url


def check(srv, user: str, state: Burst):
    if not srv.is_postgres:
        assert srv.db_scalar("PRAGMA integrity_check") == "ok"
        assert srv.db_scalar("PRAGMA foreign_key_check") == ""
    listed = {}
    page = 1
    while True:
        g = srv.gallery(user, page=page, limit=100)
        for d in g["data"]:
            listed[d["id"]] = d
        if len(g["data"]) < 100:
            break
        page += 1
    assert srv.stats(user)["total_drawings"] == len(listed)
    for did in state.created:
        if did in state.deleted:
            assert did not in listed
            assert srv.get(f"/api/drawings/{did}", user).status_code == 404
        elif did not in state.maybe_deleted:
            assert did in listed, f"drawing {did} answered 201 is gone"
            d = listed[did]
            assert d["uploaded_image_url"] == state.created[did][0]
            for url in state.edits.get(did, []):
                assert url in d["edited_images_urls"], f"edit {url} answered 200 is gone"
    for d in listed.values():  # whatever is visible is whole
        urls = [d["uploaded_image_url"], d["thumbnail_url"], *d["edited_images_urls"]]
        urls += [e["thumbnail_url"] for e in d["edits"] if e.get("thumbnail_url")]
        for url in urls:
            readable(srv, url)
    return listed


def kill(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv._close_files()


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_sigkill_during_a_burst(server_factory, request, storage):
    s3 = request.getfixturevalue("s3") if storage == "s3" else None
    srv = server_factory(env=s3.env() if s3 else None)
    user = new_user()
    state = Burst()
    rng = random.Random()
    for cycle in range(CYCLES):
        stop = threading.Event()
        errors = []

        def run(seed):
            try:
                burst(srv, user, state, stop, seed)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(rng.random(),)) for _ in range(WORKERS)]
        start = state.answered
        for t in threads:
            t.start()
        # a random moment: after a random number of answers, with more in flight
        target = start + rng.randint(3, 25)
        wait_until(lambda: state.answered >= target or errors, timeout=120,
                   what="the burst's answers")
        stop.set()
        kill(srv)
        for t in threads:
            t.join(60)
        assert not errors, errors
        srv.start()
        check(srv, user, state)
    assert len(state.created) >= CYCLES  # the burst did something

    # what the interrupted requests left: temp files (local; aged past gc's 15-minute
    # floor) and objects no row references
    media = srv.data_dir / "media"
    hour_ago = time.time() - 3600
    for p in media.rglob("*.tmp-*"):
        os.utime(p, (hour_ago, hour_ago))
    r = srv.cli("gc", "--older-than", "0")
    assert r.returncode == 0, r.stderr
    print(f"{len(state.created)} drawings answered 201, {sum(map(len, state.edits.values()))} "
          f"edits answered 200, {len(state.deleted)} deletions answered 200; gc: "
          f"{r.stdout.strip().splitlines()[-2:]}")
    listed = check(srv, user, state)
    assert not list(media.rglob("*.tmp-*")), "gc left temp files"
    referenced = set()
    for d in listed.values():
        urls = [d["uploaded_image_url"], d["thumbnail_url"], *d["edited_images_urls"]]
        urls += [e["thumbnail_url"] for e in d["edits"] if e.get("thumbnail_url")]
        referenced |= {s3.key_of(u) if s3 else srv.key_of(u) for u in urls}
    stored = set(s3.keys(f"users/{user}/")) if s3 else {
        f[len("media/"):] for f in srv.media_files(user)}
    assert stored == referenced
