#!/usr/bin/python3
"""Draws docs/editor/sample.png: the small drawing the editor's pictures start from
(a blue sky with a sun and a cloud, a hill, a tree and a house, on a white page with a
margin so "crop" has something to trim). Needs Pillow; the PNG is committed, so this only
runs when the sample should change.   scripts/editor_sample.py [OUT.png]"""
import sys

from PIL import Image, ImageDraw

W, H, M = 256, 256, 14  # size and the white margin around the picture


def main(out):
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = M, M, W - M, H - M
    # sky: a vertical gradient of blue
    for y in range(y0, 170):
        t = (y - y0) / (170 - y0)
        d.line([(x0, y), (x1 - 1, y)], fill=(int(70 + 90 * t), int(150 + 60 * t), int(235 + 15 * t)))
    # grass
    d.rectangle([x0, 165, x1 - 1, y1 - 1], fill=(88, 170, 72))
    d.ellipse([x0 - 60, 140, x0 + 150, 230], fill=(110, 186, 84))
    # sun and a cloud
    d.ellipse([180, 30, 222, 72], fill=(255, 214, 40), outline=(245, 160, 20), width=3)
    for cx, cy, r in ((62, 56, 15), (80, 50, 19), (100, 57, 14), (78, 63, 13)):
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 250, 252))
    # tree
    d.rectangle([52, 150, 62, 200], fill=(112, 74, 40))
    d.ellipse([30, 100, 86, 160], fill=(40, 128, 52), outline=(24, 90, 36), width=2)
    # house
    d.rectangle([130, 135, 205, 205], fill=(222, 92, 70), outline=(90, 40, 30), width=2)
    d.polygon([(122, 138), (167, 100), (213, 138)], fill=(120, 60, 50), outline=(70, 30, 25))
    d.rectangle([158, 170, 178, 205], fill=(110, 70, 40), outline=(60, 35, 20), width=2)
    d.rectangle([138, 148, 154, 162], fill=(190, 225, 250), outline=(60, 35, 20), width=2)
    d.rectangle([184, 148, 200, 162], fill=(190, 225, 250), outline=(60, 35, 20), width=2)
    # a black outline around the picture, as a drawing app's canvas would have
    d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(30, 30, 30), width=2)
    img.save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/editor/sample.png")
