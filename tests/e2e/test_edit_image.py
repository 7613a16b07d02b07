"""POST /api/edit-image and POST /api/drawings/{id}/edits with the local editor
(the embedded default): the seed's curl example verbatim, the exact response
shape, pixels that really changed, every field's validation, nothing stored
when a request is refused, appending edits, and many edits at once."""
import concurrent.futures
import io
import re
import shutil
import subprocess
import uuid

import pytest

from helpers import decode, new_user, noisy_png, png_bytes, png_header_bomb, validation_entries

SEED_EDIT = '''curl -X POST http://localhost:8000/api/edit-image \\
  -H "Authorization: Bearer YOUR_TOKEN" \\
  -F "file=@image.png" \\
  -F "prompt=make it colorful" \\
  -F "tutorial_id=550e8400-e29b-41d4-a716-446655440000"'''
SEED_TUTORIAL = "550e8400-e29b-41d4-a716-446655440000"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def edit(server, user, data, prompt="make it black and white", tutorial_id=None,
         filename="drawing.png", ctype="image/png", **kw):
    files = {"file": (filename, data, ctype)}
    form = {"prompt": prompt} if prompt is not None else {}
    if tutorial_id is not None:
        form["tutorial_id"] = tutorial_id
    return server.request("POST", "/api/edit-image", user, files=files, data=form, **kw)


def edit_again(server, user, drawing_id, prompt, **kw):
    form = {"prompt": prompt} if prompt is not None else {}
    return server.request("POST", f"/api/drawings/{drawing_id}/edits", user,
                          files={"prompt": (None, prompt)} if prompt is not None else None,
                          data=None if prompt is not None else form, **kw)


def check_edit_shape(server, body, user, prompt):
    assert list(body) == ["success", "prompt", "result_image", "processing_time", "drawing_id",
                          "user_id", "applied", "ignored"]  # the seed's, then SPEC §16's
    assert isinstance(body["applied"], list) and body["applied"]
    assert isinstance(body["ignored"], str)
    assert body["success"] == "true"  # the seed's string, not a boolean
    assert body["prompt"] == prompt
    assert isinstance(body["processing_time"], (int, float)) and 0 <= body["processing_time"] < 60
    assert UUID_RE.match(body["drawing_id"])
    assert body["user_id"] == user
    assert re.match(rf"^{re.escape(server.base)}/media/users/{user}/edited/"
                    r"\d{8}_\d{6}_\d{3}_[0-9a-f]{32}\.png$", body["result_image"])


def fetch_image(server, url):
    r = server.http.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    return decode(r.content)


# ---------------------------------------------------------------- the seed, verbatim

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_edit_example_verbatim(server, tmp_path):
    user = new_user()
    server.add_tutorial("Draw a cat", SEED_TUTORIAL)
    (tmp_path / "image.png").write_bytes(noisy_png(64, 48, seed=3))
    cmd = SEED_EDIT.replace("YOUR_TOKEN", server.token(user)).replace(
        "localhost:8000", f"127.0.0.1:{server.port}")
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True,
                       timeout=30, env={"PATH": server.env["PATH"], "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    import json
    body = json.loads(r.stdout)
    check_edit_shape(server, body, user, "make it colorful")
    d = server.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert d["tutorial_id"] == SEED_TUTORIAL
    assert d["edited_images_urls"] == [body["result_image"]]
    assert server.stats(user)["tutorial_drawings"] == 1


# ---------------------------------------------------------------- results

def test_black_and_white_gives_grey_pixels(server):
    user = new_user()
    original = noisy_png(80, 60, seed=7)
    r = edit(server, user, original, "make it black and white")
    assert r.status_code == 200, r.text
    body = r.json()
    check_edit_shape(server, body, user, "make it black and white")
    out = fetch_image(server, body["result_image"]).convert("RGB")
    assert out.size == (80, 60)
    px = list(out.getdata())
    assert all(p[0] == p[1] == p[2] for p in px)
    assert len(set(px)) > 10  # a real grey image, not one flat colour
    src = decode(original).convert("RGB")
    assert list(src.getdata()) != px


def test_edit_is_recorded_with_prompt_and_source(server):
    user = new_user()
    body = edit(server, user, png_bytes(40, 30), "add a sepia tone").json()
    d = server.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert d["id"] == body["drawing_id"] and d["user_id"] == user
    assert d["edited_images_urls"] == [body["result_image"]]
    assert len(d["edits"]) == 1
    e = d["edits"][0]
    assert e["url"] == body["result_image"] and e["prompt"] == "add a sepia tone"
    assert e["source"] == "text"
    # the original is kept, untouched, beside the edit, each with a thumbnail
    assert server.media_path(d["uploaded_image_url"]).is_file()
    assert server.media_path(body["result_image"]).is_file()
    assert len(server.media_files(user)) == 4
    assert server.stats(user) == {"success": True, "total_drawings": 1, "edited_drawings": 1,
                                  "tutorial_drawings": 0}


def test_same_input_same_output(server):
    user = new_user()
    data = noisy_png(50, 50, seed=11)
    a = edit(server, user, data, "make it look like a watercolor painting").json()
    b = edit(server, user, data, "make it look like a watercolor painting").json()
    assert server.http.get(a["result_image"]).content == server.http.get(b["result_image"]).content


def test_transparency_is_kept(server):
    user = new_user()
    from PIL import Image
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    for x in range(16):
        for y in range(32):
            img.putpixel((x, y), (20, 200, 40, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    body = edit(server, user, buf.getvalue(), "invert the colors").json()
    out = fetch_image(server, body["result_image"])
    assert out.mode == "RGBA"
    assert out.getpixel((20, 5))[3] == 0 and out.getpixel((3, 5))[3] == 255
    assert out.getpixel((3, 5))[:3] == (235, 55, 215)


def test_rotation_changes_the_size(server):
    user = new_user()
    body = edit(server, user, png_bytes(60, 20), "rotate it to the left").json()
    assert fetch_image(server, body["result_image"]).size == (20, 60)


# ---------------------------------------------------------------- what was read (SPEC §16)

def test_applied_and_ignored_say_what_the_prompt_did(server):
    user = new_user()
    prompt = "draw a cat next to the tree and make it colorful"
    r = edit(server, user, noisy_png(40, 30, seed=5), prompt)
    assert r.status_code == 200, r.text
    body = r.json()
    check_edit_shape(server, body, user, prompt)
    assert body["applied"] == ["colorful"]
    assert {"cat", "tree", "draw"} <= set(body["ignored"].split())
    assert not {"colorful", "make", "it", "the"} & set(body["ignored"].split())
    d = server.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert [(e["applied"], e["ignored"]) for e in d["edits"]] == [
        (["colorful"], body["ignored"])]


def test_a_negated_edit_is_never_applied(server):
    user = new_user()
    data = noisy_png(48, 40, seed=9)
    r = edit(server, user, data, "make it not blurry and sepia")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == ["sepia"] and body["ignored"] == "not blurry"
    # the very pixels of a plain sepia edit: no blur, and not its opposite either
    plain = edit(server, user, data, "sepia").json()
    assert plain["applied"] == ["sepia"] and plain["ignored"] == ""
    assert (server.http.get(body["result_image"]).content
            == server.http.get(plain["result_image"]).content)
    # /edits answers the same way, and the drawing keeps both fields per edit, in order
    r = edit_again(server, user, body["drawing_id"], "Add a frame, but no snow!")
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["applied"] == ["frame"] and again["ignored"] == "no snow"
    d = server.get(f"/api/drawings/{body['drawing_id']}", user).json()
    assert [(e["prompt"], e["applied"], e["ignored"]) for e in d["edits"]] == [
        ("make it not blurry and sepia", ["sepia"], "not blurry"),
        ("Add a frame, but no snow!", ["frame"], "no snow")]


def test_less_degree_and_order_are_reported(server):
    user = new_user()
    r = edit(server, user, noisy_png(30, 30, seed=2),
             "a bit less bright, then very blurry; no sepia")
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == ["darker", "blur"]
    assert r.json()["ignored"] == "no sepia"


def test_a_prompt_whose_only_edit_is_negated_is_refused(server):
    user = new_user()
    r = edit(server, user, png_bytes(20, 20), "I don't want it blurry")
    assert r.status_code == 422
    assert "Could not understand" in r.json()["detail"]
    assert server.media_files(user) == set()
    assert server.gallery(user)["count"] == 0


# ---------------------------------------------------------------- refused, nothing stored

def test_unknown_prompt_is_422_naming_the_vocabulary_and_stores_nothing(server):
    user = new_user()
    r = edit(server, user, png_bytes(20, 20), "make it nicer")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "Could not understand" in detail and "sepia" in detail and "watercolor" in detail
    assert "drawing_id" not in r.json()
    assert server.media_files(user) == set()
    assert server.gallery(user)["count"] == 0


def test_validation_lists_every_bad_field(server):
    user = new_user()
    r = server.request("POST", "/api/edit-image", user, files={"other": ("x", b"x")})
    assert r.status_code == 422
    locs = {tuple(e["loc"]): e["type"] for e in validation_entries(r.json())}
    assert locs == {("body", "file"): "missing", ("body", "prompt"): "missing"}


@pytest.mark.parametrize("prompt,etype", [
    ("", "missing"),
    ("x" * 1001, "string_too_long"),
    ("sepia " + "é" * 995, "string_too_long"),
])
def test_bad_prompts(server, prompt, etype):
    user = new_user()
    r = edit(server, user, png_bytes(10, 10), prompt)
    assert r.status_code == 422, r.text
    entries = validation_entries(r.json())
    assert [(e["loc"], e["type"]) for e in entries] == [(["body", "prompt"], etype)]
    if etype == "string_too_long":
        assert entries[0]["ctx"] == {"max_length": 1000}
    assert server.media_files(user) == set()


def test_prompt_of_exactly_1000_characters_is_taken(server):
    user = new_user()
    prompt = "sepia " + "é" * 994  # 1000 characters, more bytes
    r = edit(server, user, png_bytes(10, 10), prompt)
    assert r.status_code == 200, r.text
    assert r.json()["prompt"] == prompt


def test_prompt_that_is_not_utf8_is_422(server):
    user = new_user()
    files = {"file": ("a.png", png_bytes(10, 10), "image/png"),
             "prompt": (None, b"sepia \xff\xfe")}
    r = server.request("POST", "/api/edit-image", user, files=files)
    assert r.status_code == 422
    assert validation_entries(r.json())[0]["type"] == "string_type"


def test_bad_tutorial_ids(server):
    user = new_user()
    r = edit(server, user, png_bytes(10, 10), "sepia", tutorial_id="not-a-uuid")
    assert r.status_code == 422
    assert validation_entries(r.json())[0]["loc"] == ["body", "tutorial_id"]
    r = edit(server, user, png_bytes(10, 10), "sepia", tutorial_id=str(uuid.uuid4()))
    assert r.status_code == 404 and r.json() == {"detail": "Tutorial not found"}
    assert server.media_files(user) == set()


@pytest.mark.parametrize("data,status", [
    (b"%PDF-1.4 not an image", 400),
    (b"", 400),
    (png_bytes(30, 30)[:60], 400),
    (png_header_bomb(), 413),
])
def test_bad_images_store_nothing(server, data, status):
    user = new_user()
    r = edit(server, user, data, "sepia")
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert server.media_files(user) == set()
    assert server.gallery(user)["count"] == 0


def test_oversized_upload_is_413(server_factory):
    s = server_factory(env={"MAX_UPLOAD_BYTES": "64KiB"})
    user = new_user()
    r = edit(s, user, noisy_png(300, 300, seed=1), "sepia")
    assert r.status_code == 413
    assert s.media_files(user) == set()


def test_needs_a_token(server):
    r = server.request("POST", "/api/edit-image", None,
                       files={"file": ("a.png", png_bytes(5, 5))}, data={"prompt": "sepia"})
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}


# ---------------------------------------------------------------- /edits

def test_edits_append_to_a_saved_drawing(server):
    user = new_user()
    first = edit(server, user, noisy_png(40, 40, seed=5), "make it black and white").json()
    did = first["drawing_id"]
    r = edit_again(server, user, did, "invert the colors")
    assert r.status_code == 200, r.text
    second = r.json()
    check_edit_shape(server, second, user, "invert the colors")
    assert second["drawing_id"] == did and second["result_image"] != first["result_image"]
    d = server.get(f"/api/drawings/{did}", user).json()
    assert d["edited_images_urls"] == [first["result_image"], second["result_image"]]
    assert [e["prompt"] for e in d["edits"]] == ["make it black and white", "invert the colors"]
    assert d["updated_at"] >= d["created_at"]
    # the second edit starts again from the original, not from the first edit
    orig = decode(server.http.get(d["uploaded_image_url"]).content).convert("RGB")
    inv = fetch_image(server, second["result_image"]).convert("RGB")
    p, q = orig.getpixel((7, 9)), inv.getpixel((7, 9))
    assert all(a + b == 255 for a, b in zip(p, q))
    assert server.stats(user)["edited_drawings"] == 1


def test_edits_on_a_drawing_saved_without_editing(server):
    user = new_user()
    did = server.upload(user, png_bytes(20, 20)).json()["id"]
    assert server.stats(user)["edited_drawings"] == 0
    r = edit_again(server, user, did, "blur it")
    assert r.status_code == 200, r.text
    assert server.stats(user)["edited_drawings"] == 1


def test_edits_of_someone_elses_drawing_is_404(server):
    owner, other = new_user(), new_user()
    did = server.upload(owner, png_bytes(20, 20)).json()["id"]
    r = edit_again(server, other, did, "sepia")
    assert r.status_code == 404 and r.json() == {"detail": "Drawing not found"}
    assert server.media_files(other) == set()
    assert server.get(f"/api/drawings/{did}", owner).json()["edits"] == []


def test_edits_validation(server):
    user = new_user()
    r = edit_again(server, user, "nope", None)
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in validation_entries(r.json())} == {
        ("path", "drawing_id"), ("body", "prompt")}
    r = edit_again(server, user, str(uuid.uuid4()), "sepia")
    assert r.status_code == 404
    did = server.upload(user, png_bytes(20, 20)).json()["id"]
    r = edit_again(server, user, did, "make it nicer")
    assert r.status_code == 422 and "Could not understand" in r.json()["detail"]


def test_delete_removes_every_edit_file(server):
    user = new_user()
    body = edit(server, user, png_bytes(20, 20), "sepia").json()
    edit_again(server, user, body["drawing_id"], "invert")
    assert len(server.media_files(user)) == 6
    assert server.delete(f"/api/drawings/{body['drawing_id']}", user).status_code == 200
    assert server.media_files(user) == set()


# ---------------------------------------------------------------- many at once

def test_fifty_concurrent_edits(server):
    user = new_user()
    images = [noisy_png(64, 64, seed=i) for i in range(50)]

    def one(i):
        return edit(server, user, images[i], "make it colorful", timeout=120)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    assert [r.status_code for r in results] == [200] * 50
    bodies = [r.json() for r in results]
    assert len({b["drawing_id"] for b in bodies}) == 50
    assert len({b["result_image"] for b in bodies}) == 50
    g = server.gallery(user, limit=100)
    assert g["count"] == 50
    assert {d["id"] for d in g["data"]} == {b["drawing_id"] for b in bodies}
    assert server.stats(user)["edited_drawings"] == 50
    assert len(server.media_files(user)) == 200
