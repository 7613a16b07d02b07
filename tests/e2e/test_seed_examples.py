"""The seed design's own curl commands ("Testing the Implementation"), run verbatim
through a shell with curl. Only YOUR_TOKEN, the host:port and the example drawing
id are replaced, so a client written against the FastAPI backend works unchanged."""
import json
import shutil
import subprocess

import pytest

from helpers import new_user, png_bytes

# Copied from the seed, character for character.
SEED_GALLERY = '''curl -X GET "http://localhost:8000/api/drawings/gallery?page=1&limit=20" \\
  -H "Authorization: Bearer YOUR_TOKEN"'''

SEED_GET = '''curl -X GET http://localhost:8000/api/drawings/550e8400-e29b-41d4-a716-446655440000 \\
  -H "Authorization: Bearer YOUR_TOKEN"'''

SEED_STATS = '''curl -X GET http://localhost:8000/api/drawings/stats/summary \\
  -H "Authorization: Bearer YOUR_TOKEN"'''

SEED_DELETE = '''curl -X DELETE http://localhost:8000/api/drawings/550e8400-e29b-41d4-a716-446655440000 \\
  -H "Authorization: Bearer YOUR_TOKEN"'''

SEED_ID = "550e8400-e29b-41d4-a716-446655440000"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def run_seed(server, command, token, drawing_id=None, tmp_path=None):
    cmd = command.replace("YOUR_TOKEN", token).replace("localhost:8000", f"127.0.0.1:{server.port}")
    if drawing_id is not None:
        cmd = cmd.replace(SEED_ID, drawing_id)
    env = {"PATH": server.env["PATH"], "HOME": str(server.workdir)}  # no ~/.curlrc, no proxy
    r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (cmd, r.returncode, r.stderr)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"curl printed non-JSON: {r.stdout!r}")


def test_seed_commands_are_verbatim_curl():
    for c in (SEED_GALLERY, SEED_GET, SEED_STATS, SEED_DELETE):
        assert c.startswith("curl -X ") and "YOUR_TOKEN" in c and "localhost:8000" in c


def test_seed_gallery(server):
    user = new_user()
    tok = server.token(user)
    assert run_seed(server, SEED_GALLERY, tok) == {"success": True, "data": [], "count": 0,
                                                    "page": 1, "limit": 20}
    ids = [server.upload(user, png_bytes(10, 10)).json()["id"] for _ in range(3)]
    body = run_seed(server, SEED_GALLERY, tok)
    assert body["success"] is True and body["count"] == 3
    assert body["page"] == 1 and body["limit"] == 20
    assert [d["id"] for d in body["data"]] == ids[::-1]
    assert body == server.gallery(user, page=1, limit=20)


def test_seed_get(server):
    user = new_user()
    tok = server.token(user)
    created = server.upload(user, png_bytes(10, 10)).json()
    assert run_seed(server, SEED_GET, tok, created["id"]) == created
    # The seed's own example id does not exist for this user.
    assert run_seed(server, SEED_GET, tok) == {"detail": "Drawing not found"}
    # Another user's token, same command: not found.
    assert run_seed(server, SEED_GET, server.token(new_user()), created["id"]) == {
        "detail": "Drawing not found"}


def test_seed_stats(server):
    user = new_user()
    tok = server.token(user)
    assert run_seed(server, SEED_STATS, tok) == {"success": True, "total_drawings": 0,
                                                  "edited_drawings": 0, "tutorial_drawings": 0}
    server.upload(user, png_bytes(10, 10))
    server.upload(user, png_bytes(10, 10))
    assert run_seed(server, SEED_STATS, tok) == {"success": True, "total_drawings": 2,
                                                  "edited_drawings": 0, "tutorial_drawings": 0}


def test_seed_delete(server):
    user = new_user()
    tok = server.token(user)
    created = server.upload(user, png_bytes(10, 10)).json()
    path = server.media_path(created["uploaded_image_url"])
    assert run_seed(server, SEED_DELETE, tok, created["id"]) == {"success": True,
                                                                 "message": "Drawing deleted"}
    assert not path.exists()
    assert run_seed(server, SEED_GET, tok, created["id"]) == {"detail": "Drawing not found"}
    assert run_seed(server, SEED_DELETE, tok, created["id"]) == {"detail": "Drawing not found"}
    assert run_seed(server, SEED_STATS, tok)["total_drawings"] == 0


def test_seed_without_token_placeholder_replaced(server):
    # Sent literally, "YOUR_TOKEN" is not a valid token.
    cmd = SEED_STATS.replace("localhost:8000", f"127.0.0.1:{server.port}")
    r = subprocess.run(["bash", "-c", cmd], env={"PATH": server.env["PATH"], "HOME": str(server.workdir)},
                       capture_output=True, text=True, timeout=30)
    assert json.loads(r.stdout) == {"detail": "Could not validate credentials"}


def test_curl_multipart_upload(server, tmp_path):
    """Creating a drawing the way the seed uploads files: curl -F "file=@image.png"."""
    user = new_user()
    (tmp_path / "image.png").write_bytes(png_bytes(21, 13, (0, 0, 255)))
    cmd = (f'curl -X POST http://127.0.0.1:{server.port}/api/drawings \\\n'
           f'  -H "Authorization: Bearer {server.token(user)}" \\\n'
           f'  -F "file=@image.png"')
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                       env={"PATH": server.env["PATH"], "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["user_id"] == user and d["tutorial_id"] is None
    assert server.media_path(d["uploaded_image_url"]).is_file()
