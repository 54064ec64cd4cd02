"""Tiles PNGs into labelled rows for the docs' pictures (needs pillow).

    python3 scripts/tile_pictures.py out.png "label one" a.png b.png -- "label two" c.png d.png

Each row starts with its label; `--` separates rows. Pictures keep their size and sit side by
side on a dark ground under a line of text, as in docs/images/shape_vae_samples.png.
"""

import sys

from PIL import Image, ImageDraw


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, rest = argv[0], argv[1:]
    rows, current = [], []
    for arg in rest:
        if arg == "--":
            rows.append(current)
            current = []
        else:
            current.append(arg)
    rows.append(current)
    if any(len(r) < 2 for r in rows):
        sys.exit("every row needs a label and at least one picture")
    loaded = [(r[0], [Image.open(p).convert("RGB") for p in r[1:]]) for r in rows]
    label_h = 20
    width = max(sum(i.width for i in imgs) for _, imgs in loaded)
    height = sum(label_h + max(i.height for i in imgs) for _, imgs in loaded)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for label, imgs in loaded:
        draw.text((4, y + 4), label, fill="black")
        y += label_h
        x = 0
        for img in imgs:
            sheet.paste(img, (x, y))
            x += img.width
        y += max(i.height for i in imgs)
    sheet.save(out)


if __name__ == "__main__":
    main(sys.argv[1:])
