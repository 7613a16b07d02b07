"""`novadraw edit IN --prompt TEXT -o OUT`: the local editor from the shell, through
the same ingest as an upload."""
import subprocess

from PIL import Image

from helpers import png_bytes


def run_edit(novadraw_bin, tmp_path, prompt, data):
    src = tmp_path / "in.png"
    src.write_bytes(data)
    out = tmp_path / "out.png"
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data"),
           "JWT_SECRET": "edit-cli-secret-0123456789"}
    r = subprocess.run([novadraw_bin, "edit", str(src), "--prompt", prompt, "-o", str(out)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    return r, out


def test_black_and_white_gives_grey_pixels(novadraw_bin, tmp_path):
    r, out = run_edit(novadraw_bin, tmp_path, "make it black and white",
                      png_bytes(64, 48, (200, 60, 30)))
    assert r.returncode == 0, r.stderr
    im = Image.open(out).convert("RGB")
    assert im.size == (64, 48)
    assert all(p[0] == p[1] == p[2] for p in im.getdata())


def test_rotate_left_turns_the_canvas(novadraw_bin, tmp_path):
    r, out = run_edit(novadraw_bin, tmp_path, "rotate it to the left",
                      png_bytes(64, 48, (10, 200, 30)))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (48, 64)


def test_unknown_prompt_names_the_vocabulary(novadraw_bin, tmp_path):
    r, out = run_edit(novadraw_bin, tmp_path, "hello there", png_bytes(8, 8))
    assert r.returncode == 1
    assert "Could not understand the prompt" in r.stderr and "sepia" in r.stderr
    assert not out.exists()


def test_not_an_image_is_refused(novadraw_bin, tmp_path):
    r, out = run_edit(novadraw_bin, tmp_path, "make it colorful", b"<svg></svg>")
    assert r.returncode == 1 and "Unsupported image format" in r.stderr
    assert not out.exists()
