"""The headless browser the browser tests share: Debian's chromium through Playwright, offline,
with every console error, page error and request recorded for the test to check."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Opened:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def open_page(path: Path, width: int = 1280, height: int = 900) -> Iterator[Opened]:
    """The file in a new page (skips the test where Playwright or chromium is missing)."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            opened = Opened(page)
            page.on("console", lambda msg: opened.errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
            page.on("request", lambda req: opened.requests.append(req.url))
            page.goto(path.as_uri())
            yield opened
        finally:
            browser.close()


MM = 72 / 25.4
"""Points per millimetre: PDF coordinates are in points."""


def printed_pages(pdf: bytes) -> list[tuple[float, float, list[dict[str, Any]]]]:
    """Each printed page's width, height and words with their boxes (pdfplumber)."""
    import io

    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return [(page.width, page.height, page.extract_words()) for page in document.pages]


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two word boxes share any area."""
    return a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]
