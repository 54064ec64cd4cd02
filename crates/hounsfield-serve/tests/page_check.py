"""Drives the page in headless Chromium (Playwright): the study list appears, a series opens
with its slice, an isosurface job runs to completion, the 3D view draws the mesh, and the
downloaded STL opens in trimesh.

    python page_check.py URL [--screenshot PNG] [--task surface] [--series TEXT] [--upload FILE]

`--series` picks the first series row containing TEXT (default: the first MR series that reads
as a volume); `--task` is the job its button runs (default `surface`; a job that writes labels
is also shown over the slice).

Prints one JSON object with what it saw; the Rust test (tests/page.rs) judges it.
"""

import json
import os
import sys

import numpy as np
import trimesh
from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # WebGL2 through SwiftShader (software) with the GPU disabled.
    "--enable-unsafe-swiftshader",
]


def main(url, screenshot=None, task="surface", series_text=None, upload=None):
    seen = {"errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.goto(url)
        page.wait_for_selector("tr.series", timeout=15000)
        rows = page.query_selector_all("tr.series")
        seen["series_rows"] = len(rows)
        if upload:
            # The browser's way in: files chosen in the page go up as one STOW-RS request.
            page.set_input_files("#upload", upload)
            page.wait_for_function("document.getElementById('upload-result').textContent.startsWith('stored')", timeout=30000)
            seen["upload"] = page.inner_text("#upload-result")
        # The first MR series that reads as a volume.
        # Locators, not element handles: the list re-renders as it refreshes, and a locator is
        # resolved again at each action where a handle would be left detached.
        series_rows = page.locator("tr.series")
        for k in range(series_rows.count()):
            row = series_rows.nth(k)
            text = row.inner_text().strip()
            if not text.startswith("MR") or (series_text and series_text not in text):
                continue
            row.click()
            page.wait_for_function("!document.getElementById('series-title').textContent.startsWith('Loading')", timeout=30000)
            if "Not one volume" not in page.inner_text("#geometry"):
                break
        seen["geometry"] = page.inner_text("#geometry")
        page.wait_for_function("document.getElementById('slice').complete && document.getElementById('slice').naturalWidth > 0", timeout=30000)
        seen["slice_width"] = page.evaluate("document.getElementById('slice').naturalWidth")
        before = page.evaluate("[...document.querySelectorAll('.job')].map(j => j.dataset.job)")
        page.click(f"button[data-task={task}]")
        page.wait_for_function(
            "(before) => [...document.querySelectorAll('.job')].some(j => !before.includes(j.dataset.job) && (j.dataset.state === 'done' || j.dataset.state === 'failed'))",
            arg=before, timeout=120000)
        seen["job"] = page.inner_text("#jobs")
        page.wait_for_function("Number(document.body.dataset.meshes || 0) > 0", timeout=30000)
        if page.query_selector("#overlay option[value]:not([value=''])"):
            page.select_option("#overlay", index=1)
            page.wait_for_function("document.getElementById('slice').complete", timeout=30000)
        shot = np.asarray(Image.open(__import__("io").BytesIO(page.locator("#mesh").screenshot())).convert("RGB")).astype(int)
        # Pixels of the 3D view that are not its background colour (20, 20, 28).
        seen["mesh_fraction"] = float((np.abs(shot - np.array([20, 20, 28])).sum(axis=2) > 30).mean())
        # Turn the view by dragging: the picture changes.
        box = page.locator("#mesh").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 40, steps=5)
        page.mouse.up()
        turned = np.asarray(Image.open(__import__("io").BytesIO(page.locator("#mesh").screenshot())).convert("RGB")).astype(int)
        seen["turn_changed"] = float((np.abs(turned - shot).sum(axis=2) > 30).mean())
        if screenshot:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 - 120, box["y"] + box["height"] / 2 - 40, steps=5)
            page.mouse.up()
            page.screenshot(path=screenshot)
        stl = "surface.stl" if task == "surface" else None
        if stl is None:
            browser.close()
            print(json.dumps(seen))
            return
        with page.expect_download() as download:
            page.locator("a:text-is('surface.stl')").first.click()
        path = download.value.path()
        mesh = trimesh.load(path, file_type="stl")
        seen["download_name"] = download.value.suggested_filename
        seen["watertight"] = bool(mesh.is_watertight)
        seen["triangles"] = int(len(mesh.faces))
        browser.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    args = sys.argv[1:]
    options = {}
    for flag in ["--screenshot", "--task", "--series", "--upload"]:
        if flag in args:
            i = args.index(flag)
            options[flag] = args[i + 1]
            args = args[:i] + args[i + 2:]
    main(args[0], options.get("--screenshot"), options.get("--task", "surface"), options.get("--series"), options.get("--upload"))
