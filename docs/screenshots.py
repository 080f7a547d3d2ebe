"""Screenshots for the README: docs/map.png and docs/report.png from a saved plan folder.

Run from the repository root, on a folder that holds map.html and report.html (``make plan`` writes them)::

    python docs/screenshots.py out/            # writes docs/map.png and docs/report.png

Headless Chromium (Debian's /usr/bin/chromium, offline, see tests/_browser.py). The map is shot with the
best-server RSRP layer switched on and the whole city in view; the report from its top (the headline figures).
Chinese district names need a CJK font on the machine (Debian: ``apt-get install fonts-noto-cjk``); the
project itself does not depend on one. Pillow scales the shots down to ``WIDTH_PX`` (and to 256 colours
when a PNG would pass ``MAX_BYTES``).
"""
from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._browser import browser_page, open_map, wait_until  # noqa: E402

log = logging.getLogger(__name__)

WIDTH_PX = 1400                  # width of the PNGs in the README
MAX_BYTES = 600_000              # a larger PNG is saved in 256 colours
MAP_VIEWPORT = (1800, 1300)      # CSS px; the shot is scaled down to WIDTH_PX, so markers stay apart
REPORT_VIEWPORT = (1200, 1000)
MAP_PADDING_PX = {"paddingTopLeft": [40, 70], "paddingBottomRight": [330, 30]}   # clear of the title and controls


def shoot_map(html: Path, png: Path) -> dict:
    """The whole city with the RSRP layer on; returns the page's figures (counts, time to ready)."""
    with browser_page(viewport=MAP_VIEWPORT) as (page, plog):
        info = open_map(page, html, timeout_s=180)
        page.get_by_label("Best-server RSRP").check()
        page.evaluate("""(pad) => { const m = window.rolloutMap.map;
            m.options.zoomSnap = 0.25;
            const b = window.rolloutMap.layers.districts.layer.getBounds();
            m.fitBounds(b, Object.assign({animate: false}, pad)); return m.getZoom(); }""", MAP_PADDING_PX)
        wait_until(page, """() => { const i = window.rolloutMap.layers.rsrp.layer.getElement();
                                    return !!(i && i.complete && i.naturalWidth > 0); }""")
        page.wait_for_timeout(500)
        info["zoom"] = page.evaluate("window.rolloutMap.map.getZoom()")
        info["page_errors"] = list(plog.page_errors)
        save_png(page.screenshot(), png)
    return info


def shoot_report(html: Path, png: Path) -> None:
    """The top of the report: title, headline figures."""
    with browser_page(viewport=REPORT_VIEWPORT) as (page, _):
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        save_png(page.screenshot(), png)


def save_png(shot: bytes, png: Path, *, width_px: int = WIDTH_PX) -> None:
    """Scale ``shot`` to ``width_px`` (never up) and save it as an optimised PNG, in 256 colours if it is large."""
    from PIL import Image

    img = Image.open(io.BytesIO(shot)).convert("RGB")
    if img.width > width_px:
        img = img.resize((width_px, round(img.height * width_px / img.width)), Image.Resampling.LANCZOS)
    img.save(png, optimize=True)
    if png.stat().st_size > MAX_BYTES:   # a map full of markers: 256 colours (octree keeps the legend's greens)
        img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(png, optimize=True)
    log.info("%s: %d x %d px, %.0f kB", png, img.width, img.height, png.stat().st_size / 1e3)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "out")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = shoot_map(out / "map.html", ROOT / "docs" / "map.png")
    log.info("map: zoom %.2f, ready after %.0f ms, page errors %s", info["zoom"], info["readyMs"], info["page_errors"])
    shoot_report(out / "report.html", ROOT / "docs" / "report.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
