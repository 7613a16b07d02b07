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
    ("IMAGE_EDITOR", "banana"),
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
    rc, out, err = run_serve(novadraw_bin, tmp_path, {"PORT": "abc", "IMAGE_EDITOR": "banana", "MAX_UPLOAD_BYTES": "lots"})
    assert rc == 2, (rc, err)
    for var in ("PORT", "IMAGE_EDITOR", "MAX_UPLOAD_BYTES"):
        assert var in err, f"{var} not named in {err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    for var in ("PORT", "IMAGE_EDITOR", "MAX_UPLOAD_BYTES"):
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
    assert s.get("/health").json()["status"] == "ok"


def test_real_environment_wins_over_dotenv(server_factory, tmp_path):
    p_file, p_env = free_port(), free_port()
    cwd = write_dotenv(tmp_path / "envdir2", f'PORT="{p_file}"\nexport IMAGE_EDITOR=local\n')
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
    cwd = write_dotenv(tmp_path / "envdir4", "IMAGE_EDITOR=banana\n")
    rc, out, err = run_serve(novadraw_bin, tmp_path, {}, cwd=cwd)
    assert rc == 2, (rc, err)
    assert "IMAGE_EDITOR" in err


# --------------------------------------------------------------------------- SPEC 16: no collisions
# EDITOR is the shell's text editor (vim, nano, ...); the image editor is IMAGE_EDITOR.

EDITOR_NOTICE = "config: EDITOR is ignored; set IMAGE_EDITOR=gemini to choose the image editor"


def edit_image(server, user, prompt="make it black and white"):
    return server.request("POST", "/api/edit-image", user,
                          files={"file": ("d.png", png_bytes(24, 24), "image/png")},
                          data={"prompt": prompt})


def closed_port_url():
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_shell_editor_vim_changes_nothing(server_factory, tmp_path):
    """EDITOR=vim used to stop serve, token and edit with exit 2."""
    s = server_factory(env={"EDITOR": "vim", "JWT_SECRET": None})
    user = new_user()
    r = edit_image(s, user)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == ["black and white"], r.json()
    wait_for_log(s, r"serving at .*editor local")

    tok = cli_token(s, user, env={"EDITOR": "vim"})
    r = s.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200 and r.json()["count"] == 1, r.text

    src, out = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(png_bytes(20, 20))
    r = s.cli("edit", str(src), "--prompt", "make it black and white", "-o", str(out),
              env={"EDITOR": "vim"})
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for text in (s.log_text(), r.stderr):
        assert "EDITOR" not in text, text[-2000:]


def test_shell_editor_gemini_gives_a_notice_and_is_not_obeyed(server_factory):
    # EDITOR=gemini without a key used to be "gemini needs GEMINI_API_KEY", exit 2
    s = server_factory(env={"EDITOR": "gemini"})
    lines = wait_for_log(s, "EDITOR is ignored")
    assert len(lines) == 1 and lines[0].endswith(EDITOR_NOTICE), lines
    assert " warn " in lines[0], lines
    wait_for_log(s, r"serving at .*editor local")
    r = edit_image(s, new_user())
    assert r.status_code == 200 and r.json()["applied"] == ["black and white"], r.text
    # the notice is a start-up line, not one per request
    assert s.log_text().count("EDITOR is ignored") == 1

    r = s.cli("token", "--user", new_user(), env={"EDITOR": "gemini"})
    assert r.returncode == 0, r.stderr
    assert EDITOR_NOTICE in r.stderr
    assert r.stdout.count(".") == 2 and "EDITOR" not in r.stdout
    s.issued_tokens.append(r.stdout.strip())


def test_image_editor_decides_whatever_editor_says(server_factory):
    dead = closed_port_url()
    gem = {"GEMINI_API_KEY": "k-" + uuid.uuid4().hex, "GEMINI_BASE_URL": dead,
           "GEMINI_RETRIES": "0"}
    # EDITOR=gemini, IMAGE_EDITOR=local: local, although the key is set
    s = server_factory(env={"EDITOR": "gemini", "IMAGE_EDITOR": "local", **gem})
    line = wait_for_log(s, "EDITOR is ignored")[0]
    assert line.endswith("config: EDITOR is ignored; IMAGE_EDITOR=local chooses the image editor")
    r = edit_image(s, new_user())
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == ["black and white"]
    # EDITOR=local, IMAGE_EDITOR=gemini: gemini (unreachable here, so 502)
    s2 = server_factory(env={"EDITOR": "local", "IMAGE_EDITOR": "gemini", **gem})
    wait_for_log(s2, r"serving at .*editor gemini")
    r = edit_image(s2, new_user())
    assert r.status_code == 502, r.text


@pytest.mark.parametrize("value", ["bogus", "vim", "Gemini", "gemini "])
def test_bad_image_editor_exits_2(novadraw_bin, tmp_path, value):
    rc, out, err = run_serve(novadraw_bin, tmp_path, {"IMAGE_EDITOR": value})
    assert rc == 2, (rc, err)
    assert f"config: IMAGE_EDITOR: must be one of auto|local|gemini (got '{value}')" in err, err


def test_image_editor_gemini_needs_the_key(novadraw_bin, tmp_path):
    rc, out, err = run_serve(novadraw_bin, tmp_path, {"IMAGE_EDITOR": "gemini", "EDITOR": "vim"})
    assert rc == 2, (rc, err)
    assert "config: IMAGE_EDITOR: gemini needs GEMINI_API_KEY" in err, err


def test_wildcard_host_without_public_base_url_warns(server_factory):
    s = server_factory(env={"HOST": "0.0.0.0"})
    base = f"http://0.0.0.0:{s.port}"
    lines = wait_for_log(s, "without PUBLIC_BASE_URL")
    assert len(lines) == 1 and " warn " in lines[0], lines
    assert lines[0].endswith(
        f"config: HOST=0.0.0.0 without PUBLIC_BASE_URL: local media URLs (and share links) "
        f"start with {base}, which other machines cannot reach; set PUBLIC_BASE_URL to the "
        f"address clients use, e.g. PUBLIC_BASE_URL=http://192.0.2.10:{s.port}"), lines
    # the URL base is still http://HOST:PORT, and the bytes are behind it
    d = s.upload(new_user(), png_bytes(6, 6)).json()
    url = d["uploaded_image_url"]
    assert url.startswith(base + "/media/users/"), url
    r = s.get(url[len(base):])
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_wildcard_host_with_public_base_url_is_quiet(server_factory):
    s = server_factory(env={"HOST": "0.0.0.0", "PUBLIC_BASE_URL": "https://draw.example.com/"})
    d = s.upload(new_user(), png_bytes(6, 6)).json()
    assert d["uploaded_image_url"].startswith("https://draw.example.com/media/users/"), d
    wait_for_log(s, "serving at https://draw.example.com ")
    assert "PUBLIC_BASE_URL" not in s.log_text()


def test_loopback_host_does_not_warn(server):
    assert server.get("/health").status_code == 200
    assert "PUBLIC_BASE_URL" not in server.log_text()


def run_token(binary, cwd, env_over=None):
    env = base_env()
    env.update(env_over or {})
    return subprocess.run([binary, "token", "--user", new_user()], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_token_without_a_secret_exits_2_and_writes_nothing(novadraw_bin, tmp_path):
    """In a directory where the server never ran (default DATA_DIR ./data), token used
    to generate a secret of its own, and its token then got 401 from the server."""
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    r = run_token(novadraw_bin, empty)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert "novadraw token: no signing secret: JWT_SECRET is unset and ./data/jwt_secret " \
           "does not exist" in r.stderr, r.stderr
    assert "novadraw serve" in r.stderr
    assert list(empty.iterdir()) == [], "token wrote something"

    # an existing, empty DATA_DIR stays empty too
    data = tmp_path / "data-empty"
    data.mkdir()
    r = run_token(novadraw_bin, empty, {"DATA_DIR": str(data)})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{data}/jwt_secret does not exist" in r.stderr
    assert list(data.iterdir()) == [] and list(empty.iterdir()) == []

    # JWT_SECRET needs no file: a token, and still nothing written
    r = run_token(novadraw_bin, empty, {"JWT_SECRET": random_secret()})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(".") == 2
    assert list(empty.iterdir()) == []


def test_token_uses_the_secret_serve_generated(server_factory):
    """serve still generates the secret on first start; token then signs with it."""
    s = server_factory(env={"JWT_SECRET": None})
    assert (s.data_dir / "jwt_secret").is_file()
    user = new_user()
    tok = cli_token(s, user)
    assert s.get("/api/drawings/gallery", headers={"Authorization": "Bearer " + tok}).status_code == 200


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
