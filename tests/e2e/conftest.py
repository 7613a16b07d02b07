"""Fixtures for the NovaDraw end-to-end suite.

Every test talks to a real `novadraw serve` process started from the built binary
(NOVADRAW_BIN, default <repo>/build/novadraw) with a clean environment, a private
DATA_DIR and a free port. On teardown the server gets SIGTERM and must exit 0; under
a sanitizer build a leak or UB report makes that fail. The server's stderr (the
request log) is kept in a file and checked never to contain the signing secret or
a bearer token the test minted.

With NOVADRAW_TEST_DATABASE_URL set (a PostgreSQL URL whose user may create
databases; `scripts/pg.sh run` sets it), every server runs on PostgreSQL instead of
SQLite: each DATA_DIR gets its own fresh database `t_<random>` (made with psql), so
a server restarted on the same DATA_DIR finds its data again, as with SQLite. A
test that sets DATABASE_URL itself (or removes it with None) keeps its choice. The
databases are dropped when the session ends.
"""
from __future__ import annotations

import os
import pathlib
import secrets
import signal
import socket
import string
import subprocess
import sys
import shutil
import time
import urllib.parse
import uuid

import jwt
import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from helpers import DRAWING_KEYS  # noqa: E402
from s3_fixtures import s3, s3rver  # noqa: E402,F401  (fixtures: S3 server, bucket, proxy)

REPO = pathlib.Path(__file__).resolve().parents[2]
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "MSAN_OPTIONS", "TSAN_OPTIONS")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PG_ADMIN_URL = os.environ.get("NOVADRAW_TEST_DATABASE_URL") or None


# ---------------------------------------------------------------------- PostgreSQL

_pg_databases: dict[str, str] = {}  # resolved DATA_DIR -> its database's URL


def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for v in (17, 16, 15, 14, 13):
        p = f"/usr/lib/postgresql/{v}/bin/psql"
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("psql not found (install postgresql-client)")


def psql(url: str, *commands: str):
    """Runs each SQL command (separately, so CREATE/DROP DATABASE work) with psql."""
    args = [psql_bin(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for c in commands:
        args += ["-c", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({r.returncode}): {r.stderr.strip()}")


def url_with_db(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def pg_database_for(data_dir: pathlib.Path) -> str:
    """The URL of DATA_DIR's own database, created on first use."""
    key = str(pathlib.Path(data_dir).resolve())
    if key not in _pg_databases:
        name = "t_" + uuid.uuid4().hex[:16]
        psql(PG_ADMIN_URL, f"CREATE DATABASE {name}")
        _pg_databases[key] = url_with_db(PG_ADMIN_URL, name)
    return _pg_databases[key]


def pg_drop_all():
    names = [urllib.parse.urlsplit(u).path.lstrip("/") for u in _pg_databases.values()]
    _pg_databases.clear()
    if names:
        psql(PG_ADMIN_URL, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_secret(n: int = 48) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def base_env() -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in SANITIZER_VARS:
        if k in os.environ:
            env[k] = os.environ[k]
    return env


class NovaServer:
    """One `novadraw serve` process and the helpers to talk to it."""

    def __init__(self, binary: str, workdir: pathlib.Path, env: dict | None = None,
                 port: int | None = None, cwd: pathlib.Path | None = None):
        self.binary = binary
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cwd = pathlib.Path(cwd) if cwd else self.workdir
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.secret = random_secret()
        self.port = port or free_port()
        env = dict(env or {})
        full = base_env()
        full.update({
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATA_DIR": str(self.data_dir),
            "JWT_SECRET": self.secret,
            # some tests edit more than the default 20 times a minute as one user;
            # test_rate_limits.py sets its own limits
            "RATE_LIMIT_EDITS": "100000",
        })
        for k, v in env.items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = str(v)
        self.env = full
        if "JWT_SECRET" in full:
            self.secret = full["JWT_SECRET"]
        else:
            self.secret = None  # generated by the server into DATA_DIR
        if "DATA_DIR" in full:
            self.data_dir = pathlib.Path(full["DATA_DIR"])
        if PG_ADMIN_URL and "DATABASE_URL" not in env:
            full["DATABASE_URL"] = pg_database_for(self.data_dir)
        self.db_password = None
        if full.get("DATABASE_URL", "").startswith(("postgresql://", "postgres://")):
            self.db_password = urllib.parse.urlsplit(full["DATABASE_URL"]).password
        self.stderr_path = self.workdir / f"server-{self.port}.stderr"
        self.stdout_path = self.workdir / f"server-{self.port}.stdout"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.issued_tokens: list[str] = []
        self.http = requests.Session()
        self.http.trust_env = False  # never route 127.0.0.1 through a proxy

    # ------------------------------------------------------------------ process
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "NovaServer":
        self._err = open(self.stderr_path, "ab")
        self._out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, cwd=self.cwd,
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"novadraw serve exited with {self.proc.returncode} before becoming healthy\n"
                    f"--- stderr ---\n{self.log_text()[-6000:]}")
            try:
                r = self.http.get(self.base + "/health", timeout=2)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"server not healthy after {timeout}s (last: {last})\n"
                             f"--- stderr ---\n{self.log_text()[-6000:]}")

    def terminate(self) -> int:
        """SIGTERM, wait; returns the exit status (kills and fails on a hang)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                raise AssertionError(f"server did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                                     f"--- stderr ---\n{self.log_text()[-6000:]}")
        self.returncode = self.proc.returncode
        self._close_files()
        self.http.close()
        return self.returncode

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def stop_and_check(self):
        rc = self.terminate()
        log = self.log_text()
        assert rc == 0, (f"server exit status {rc} (expected 0 after SIGTERM)\n"
                         f"--- stderr ---\n{log[-8000:]}")
        self.check_log_has_no_secrets(log)

    def log_text(self) -> str:
        try:
            return self.stderr_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def check_log_has_no_secrets(self, log: str | None = None):
        log = self.log_text() if log is None else log
        out = ""
        try:
            out = self.stdout_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            pass
        secret = self.secret or self.generated_secret()
        for text, name in ((log, "stderr"), (out, "stdout")):
            if secret:
                assert secret not in text, f"the JWT secret appears in the server's {name}"
            if self.db_password:
                assert self.db_password not in text, f"the database password appears in the server's {name}"
            for tok in self.issued_tokens:
                sig = tok.rsplit(".", 1)[-1]
                assert tok not in text, f"a bearer token appears in the server's {name}"
                if len(sig) >= 16:
                    assert sig not in text, f"a token signature appears in the server's {name}"

    def generated_secret(self) -> str | None:
        p = self.data_dir / "jwt_secret"
        try:
            return p.read_text().strip() or None
        except OSError:
            return None

    # ------------------------------------------------------------------ CLI
    def cli(self, *args, env: dict | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
        e = dict(self.env)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return subprocess.run([self.binary, *args], env=e, cwd=self.cwd, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def add_tutorial(self, title: str, tid: str | None = None) -> str:
        args = ["tutorial", "add", "--title", title]
        if tid:
            args += ["--id", tid]
        r = self.cli(*args)
        assert r.returncode == 0, f"tutorial add failed ({r.returncode}): {r.stderr}"
        out = r.stdout.strip()
        m = [w for w in out.split() if len(w) == 36 and w.count("-") == 4]
        assert m, f"tutorial add printed no id: {out!r}"
        return m[-1]

    # ------------------------------------------------------------------ auth
    def token(self, user_id: str | None, *, algorithm: str = "HS256", key=None,
              headers: dict | None = None, **claims) -> str:
        """An access token for user_id (sub). exp defaults to now+3600; pass a claim
        as None to leave it out (e.g. exp=None)."""
        now = int(time.time())
        payload = {"exp": now + 3600}
        if user_id is not None:
            payload["sub"] = user_id
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        if key is None:
            key = self.secret or self.generated_secret()
        tok = jwt.encode(payload, key, algorithm=algorithm, headers=headers)
        self.issued_tokens.append(tok)
        return tok

    def auth(self, user: str, **claims) -> dict:
        return {"Authorization": f"Bearer {self.token(user, **claims)}"}

    # ------------------------------------------------------------------ HTTP
    def request(self, method: str, path: str, user: str | None = None, headers: dict | None = None,
                **kw) -> requests.Response:
        h = dict(headers or {})
        if user is not None:
            h.update(self.auth(user))
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.base + path, headers=h, **kw)

    def get(self, path, user=None, **kw):
        return self.request("GET", path, user, **kw)

    def delete(self, path, user=None, **kw):
        return self.request("DELETE", path, user, **kw)

    def upload(self, user: str, data: bytes, filename: str = "drawing.png",
               content_type: str = "image/png", tutorial_id: str | None = None,
               expect: int | None = 201) -> requests.Response:
        files = {"file": (filename, data, content_type)}
        form = {}
        if tutorial_id is not None:
            form["tutorial_id"] = tutorial_id
        r = self.request("POST", "/api/drawings", user, files=files, data=form)
        if expect is not None:
            assert r.status_code == expect, f"upload: expected {expect}, got {r.status_code} {r.text[:500]}"
        return r

    def gallery(self, user: str, **params) -> dict:
        r = self.get("/api/drawings/gallery", user, params=params or None)
        assert r.status_code == 200, r.text
        return r.json()

    def stats(self, user: str) -> dict:
        r = self.get("/api/drawings/stats/summary", user)
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------------ database
    def db_scalar(self, sql: str) -> str:
        """The first column of the first row of a read-only query on this server's
        database (SQLite read-only alongside the server, or psql), as text."""
        url = self.env.get("DATABASE_URL", "")
        if url.startswith(("postgresql://", "postgres://")):
            r = subprocess.run([psql_bin(), "-X", "-q", "-A", "-t", "-d", url, "-c", sql],
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            assert r.returncode == 0, f"psql failed: {r.stderr.strip()}"
            return r.stdout.strip().split("\n")[0]
        import sqlite3
        if url.startswith("sqlite:///"):
            path = pathlib.Path(url[len("sqlite:///"):])
            path = path if path.is_absolute() else self.cwd / path
        else:
            path = self.data_dir / "novadraw.db"
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            row = con.execute(sql).fetchone()
        finally:
            con.close()
        return "" if row is None else str(row[0])

    @property
    def is_postgres(self) -> bool:
        return self.env.get("DATABASE_URL", "").startswith(("postgresql://", "postgres://"))

    def db_exec(self, sqlite_sql: str, pg_sql: str | None = None) -> None:
        """Changes this server's database behind its back (a test's time travel):
        sqlite_sql on SQLite (times are ms integers), pg_sql on PostgreSQL."""
        url = self.env.get("DATABASE_URL", "")
        if self.is_postgres:
            r = subprocess.run([psql_bin(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                                "-c", pg_sql or sqlite_sql],
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            assert r.returncode == 0, f"psql failed: {r.stderr.strip()}"
            return
        import sqlite3
        if url.startswith("sqlite:///"):
            path = pathlib.Path(url[len("sqlite:///"):])
            path = path if path.is_absolute() else self.cwd / path
        else:
            path = self.data_dir / "novadraw.db"
        con = sqlite3.connect(str(path), timeout=10)
        try:
            con.execute(sqlite_sql)
            con.commit()
        finally:
            con.close()

    # ------------------------------------------------------------------ storage
    def key_of(self, url: str) -> str:
        prefix = self.base + "/media/"
        assert url.startswith(prefix), f"{url} is not a local media URL of this server"
        return url[len(prefix):]

    def media_path(self, url: str) -> pathlib.Path:
        return self.data_dir / "media" / self.key_of(url)

    def media_files(self, user: str | None = None) -> set[str]:
        root = self.data_dir / "media"
        if user is not None:
            root = root / "users" / user
        if not root.exists():
            return set()
        return {str(p.relative_to(self.data_dir)) for p in root.rglob("*") if p.is_file()}


def check_drawing_shape(d: dict):
    assert isinstance(d, dict), d
    missing = DRAWING_KEYS - set(d)
    assert not missing, f"DrawingResponse lacks {missing}: {d}"
    assert isinstance(d["edited_images_urls"], list)
    assert isinstance(d["edits"], list)


# ---------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session", autouse=True)
def pg_databases():
    """On PostgreSQL runs, drops the session's databases at the end."""
    yield
    if PG_ADMIN_URL:
        pg_drop_all()


@pytest.fixture(scope="session")
def novadraw_bin() -> str:
    b = os.environ.get("NOVADRAW_BIN", str(REPO / "build" / "novadraw"))
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"novadraw binary not found at {b} (build it, or set NOVADRAW_BIN)")
    return b


@pytest.fixture(scope="module")
def server(novadraw_bin, tmp_path_factory):
    """A server shared by the tests of one module (tests use fresh user ids)."""
    s = NovaServer(novadraw_bin, tmp_path_factory.mktemp("srv"))
    s.start()
    yield s
    s.stop_and_check()


@pytest.fixture
def server_factory(novadraw_bin, tmp_path):
    """Start isolated servers: server_factory(env={...}, port=..., cwd=..., start=True)."""
    made: list[NovaServer] = []

    def make(env: dict | None = None, start: bool = True, port: int | None = None,
             cwd: pathlib.Path | None = None, workdir: pathlib.Path | None = None) -> NovaServer:
        wd = workdir or (tmp_path / f"srv{len(made)}")
        s = NovaServer(novadraw_bin, wd, env=env, port=port, cwd=cwd)
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    errors = []
    for s in made:
        if s.proc is None or s.returncode is not None:
            continue
        try:
            s.stop_and_check()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def fresh_server(server_factory):
    return server_factory()


@pytest.fixture
def user() -> str:
    return str(uuid.uuid4())
