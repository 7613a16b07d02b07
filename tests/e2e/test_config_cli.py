"""The command line (token, tutorial, migrate), configuration errors, the .env file,
the generated signing secret and graceful shutdown (SPEC sections 2 and 3)."""
import json
import signal
import socket
import stat
import subprocess
import time
import uuid

import jwt
import pytest

from conftest import base_env, free_port, random_secret
from helpers import (UUID_RE, multipart, new_user, noisy_png, parse_response, png_bytes,
                     read_response_from, server_has_read, wait_for_log, wait_until)


# --------------------------------------------------------------------------- token

def cli_token(server, user, *extra, env=None):
    r = server.cli("token", "--user", user, *extra, env=env)
    assert r.returncode == 0, (r.returncode, r.stderr)
    lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    assert lines, "token printed nothing"
    tok = lines[-1]
    assert tok.count(".") == 2, f"not a JWT: {tok!r}"
    server.issued_tokens.append(tok)
    return tok


def test_cli_token_is_accepted(server):
    user = new_user()
    tok = cli_token(server, user)
    claims = jwt.decode(tok, server.secret, algorithms=["HS256"])
    assert claims["sub"] == user
    assert claims["exp"] > time.time() + 60
    assert jwt.get_unverified_header(tok)["alg"] == "HS256"
    r = server.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text
    d = server.request("POST", "/api/drawings", headers={"Authorization": "Bearer " + tok},
                       files={"file": ("a.png", png_bytes(5, 5), "image/png")})
    assert d.status_code == 201 and d.json()["user_id"] == user


def test_cli_token_ttl(server):
    user = new_user()
    tok = cli_token(server, user, "--ttl", "120")
    claims = jwt.decode(tok, server.secret, algorithms=["HS256"])
    assert 90 <= claims["exp"] - time.time() <= 130, claims


def test_cli_token_uppercase_user_is_canonical(server):
    user = new_user()
    tok = cli_token(server, user.upper())
    r = server.request("POST", "/api/drawings", headers={"Authorization": "Bearer " + tok},
                       files={"file": ("a.png", png_bytes(5, 5), "image/png")})
    assert r.status_code == 201 and r.json()["user_id"] == user


@pytest.mark.parametrize("args", [["--user", "notauuid"], ["--user", ""], [],
                                  ["--user", "550e8400-e29b-41d4-a716-44665544000"]])
def test_cli_token_bad_user_exits_2(server, args):
    r = server.cli("token", *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.count(".") < 2, "printed a token anyway"


def test_cli_token_bad_ttl_fails(server):
    r = server.cli("token", "--user", new_user(), "--ttl", "forever")
    assert r.returncode > 0, (r.returncode, r.stdout, r.stderr)


def test_unknown_subcommand_fails(server):
    r = server.cli("frobnicate")
    assert r.returncode > 0
    assert r.stderr.strip()


# --------------------------------------------------------------------------- generated secret

def test_generated_secret_when_jwt_secret_unset(server_factory):
    s = server_factory(env={"JWT_SECRET": None})
    path = s.data_dir / "jwt_secret"
    assert path.is_file(), "no generated secret in DATA_DIR"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    assert len(path.read_bytes().strip()) >= 16

    user = new_user()
    tok = cli_token(s, user)
    r = s.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text
    # A token signed with anything else is refused.
    forged = s.token(user, key=random_secret())
    r = s.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + forged})
    assert r.status_code == 401

    # The secret survives a restart: same file, old tokens still good.
    first = path.read_bytes()
    s.stop_and_check()
    s2 = server_factory(env={"JWT_SECRET": None}, workdir=s.workdir)
    assert path.read_bytes() == first
    r = s2.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200, r.text
    s2.issued_tokens.append(tok)


# --------------------------------------------------------------------------- migrate / data dir

def test_migrate_is_idempotent(server_factory):
    s = server_factory(start=False)
    for _ in range(2):
        r = s.cli("migrate")
        assert r.returncode == 0, (r.returncode, r.stderr)
    s.start()
    assert s.gallery(new_user())["count"] == 0


def test_missing_data_dir_is_created(server_factory, tmp_path):
    target = tmp_path / "brand-new-data"
    assert not target.exists()
    s = server_factory(env={"DATA_DIR": str(target)})
    assert target.is_dir()
    d = s.upload(new_user(), png_bytes(4, 4)).json()
    assert str(s.media_path(d["uploaded_image_url"])).startswith(str(target))
    assert s.media_path(d["uploaded_image_url"]).is_file()


# --------------------------------------------------------------------------- config errors

def run_serve(binary, tmp_path, env_over: dict, cwd=None, timeout=10.0):
    data = tmp_path / ("data-" + uuid.uuid4().hex[:8])
    data.mkdir()
    env = base_env()
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATA_DIR": str(data),
                "JWT_SECRET": random_secret()})
    for k, v in env_over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cwd = cwd or tmp_path
    proc = subprocess.Popen([binary, "serve"], env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"serve started despite bad config {env_over}; stderr:\n{err}")
    return proc.returncode, out, err


@pytest.mark.parametrize("var,value", [
    ("PORT", "abc"),
    ("PORT", "70000"),
    ("PORT", "-1"),
    ("PORT", "80abc"),
    ("MAX_UPLOAD_BYTES", "lots"),
    ("MAX_IMAGE_PIXELS", "-5"),
    ("EDITOR", "banana"),
    ("TRANSCRIBER", "parrot"),
    ("STORAGE_ACL", "world-writable"),
    ("SIGNED_URL_TTL", "soon"),
    ("DATABASE_URL", "mysql://u:p@localhost/db"),
    ("JWT_ALGORITHM", "none"),
])
def test_bad_variable_stops_startup(novadraw_bin, tmp_path, var, value):
    rc, out, err = run_serve(novadraw_bin, tmp_path, {var: value})
    assert rc == 2, (rc, err)
    assert var in err, f"stderr does not name {var}: {err!r}"


def test_several_bad_variables_are_all_named(novadraw_bin, tmp_path):
    rc, out, err = run_serve(novadraw_bin, tmp_path, {"PORT": "abc", "EDITOR": "banana", "MAX_UPLOAD_BYTES": "lots"})
    assert rc == 2, (rc, err)
    for var in ("PORT", "EDITOR", "MAX_UPLOAD_BYTES"):
        assert var in err, f"{var} not named in {err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    for var in ("PORT", "EDITOR", "MAX_UPLOAD_BYTES"):
        assert any(var in ln for ln in lines)


def test_short_jwt_secret_is_refused_and_not_printed(novadraw_bin, tmp_path):
    value = "Zq9shrtSec"
    rc, out, err = run_serve(novadraw_bin, tmp_path, {"JWT_SECRET": value})
    assert rc == 2, (rc, err)
    assert "JWT_SECRET" in err
    assert value not in err and value not in out


def test_secret_values_never_printed_in_config_errors(novadraw_bin, tmp_path):
    secret_vals = {"SPACES_SECRET": "S3cr3tValue-" + uuid.uuid4().hex,
                   "GEMINI_API_KEY": "AIzaFake-" + uuid.uuid4().hex,
                   "JWT_SECRET": "tiny"}
    rc, out, err = run_serve(novadraw_bin, tmp_path, {**secret_vals, "PORT": "nope"})
    assert rc == 2, (rc, err)
    for v in secret_vals.values():
        assert v not in err and v not in out


# --------------------------------------------------------------------------- .env

def write_dotenv(directory, text):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".env").write_text(text)
    return directory


def test_dotenv_sets_port(server_factory, tmp_path):
    p = free_port()
    cwd = write_dotenv(tmp_path / "envdir", f"# settings\nPORT={p}\n")
    s = server_factory(env={"PORT": None}, port=p, cwd=cwd)
    assert s.get("/health").json() == {"status": "ok"}


def test_real_environment_wins_over_dotenv(server_factory, tmp_path):
    p_file, p_env = free_port(), free_port()
    cwd = write_dotenv(tmp_path / "envdir2", f'PORT="{p_file}"\nexport EDITOR=local\n')
    s = server_factory(env={"PORT": str(p_env)}, port=p_env, cwd=cwd)
    assert s.get("/health").status_code == 200
    with socket.socket() as sock:
        sock.settimeout(1)
        assert sock.connect_ex(("127.0.0.1", p_file)) != 0, "also listening on the .env PORT"


def test_dotenv_supplies_jwt_secret(server_factory, tmp_path):
    secret = random_secret()
    cwd = write_dotenv(tmp_path / "envdir3", f"JWT_SECRET='{secret}'\n")
    s = server_factory(env={"JWT_SECRET": None}, cwd=cwd, start=False)
    s.secret = secret
    s.start()
    r = s.get("/api/drawings/gallery", new_user())
    assert r.status_code == 200, r.text


def test_bad_value_in_dotenv_stops_startup(novadraw_bin, tmp_path):
    cwd = write_dotenv(tmp_path / "envdir4", "EDITOR=banana\n")
    rc, out, err = run_serve(novadraw_bin, tmp_path, {}, cwd=cwd)
    assert rc == 2, (rc, err)
    assert "EDITOR" in err


# --------------------------------------------------------------------------- shutdown

def test_graceful_shutdown_finishes_inflight_upload(server_factory):
    s = server_factory()
    user = new_user()
    tok = s.token(user)
    body, ctype = multipart([("file", ("big.png", noisy_png(600, 600, seed=5), "image/png"))])
    assert len(body) > 1_000_000
    head = (f"POST /api/drawings HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\n"
            f"Authorization: Bearer {tok}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    half = len(body) // 2
    with socket.create_connection(("127.0.0.1", s.port), timeout=20) as sock:
        sock.sendall(head + body[:half])
        wait_until(lambda: server_has_read(sock), 10, "the server to read the first half")
        s.proc.send_signal(signal.SIGTERM)
        wait_for_log(s, "SIGTERM received, finishing requests in flight")
        assert s.proc.poll() is None, "server exited with a request in flight"
        sock.sendall(body[half:])
        data = read_response_from(sock, timeout=20)
    resp = parse_response(data)
    assert resp.status == 201, resp
    d = json.loads(resp.body)
    assert d["user_id"] == user and UUID_RE.match(d["id"])
    path = s.media_path(d["uploaded_image_url"])
    rc = s.proc.wait(10)
    assert rc == 0, s.log_text()[-4000:]
    s.stop_and_check()
    assert path.is_file()

    # The drawing is durable: a new server on the same data serves it.
    s2 = server_factory(env={"JWT_SECRET": s.secret}, workdir=s.workdir)
    r = s2.get("/api/drawings/" + d["id"], user)
    assert r.status_code == 200, r.text
    assert s2.gallery(user)["count"] == 1


def test_sigterm_on_idle_server_exits_zero(server_factory):
    s = server_factory()
    assert s.get("/health").status_code == 200
    t0 = time.monotonic()
    assert s.terminate() == 0, s.log_text()[-4000:]
    assert time.monotonic() - t0 < 5
    s.check_log_has_no_secrets()
