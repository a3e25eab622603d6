"""Screenshots of the reviewer workspace for docs/review.md (docs/images/review-queue.png, review-task.png):
the bench setup of bench/review_page.py, Playwright on /usr/bin/chromium.

usage: python bench/review_screenshots.py
"""

import os
import signal
import sys

sys.path.insert(0, "bench")
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import review_page as rp
from loopwise.store import sqlite_url

with tempfile.TemporaryDirectory() as tmp:
    db = sqlite_url(Path(tmp) / "s.db")
    proc, url, key = rp.serve(db)
    try:
        rp.setup(url, key, db, 2000)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1000, "height": 700})
            page.goto(url + "/ui/login")
            page.fill("input[name=name]", "r0")
            page.fill("input[name=password]", rp.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/ui/")
            page.screenshot(path="docs/images/review-queue.png")
            page.goto(url + "/ui/models/loans/task")
            page.wait_for_selector("#explanation")
            page.set_viewport_size({"width": 1000, "height": 1250})
            page.screenshot(path="docs/images/review-task.png", full_page=True)
            b.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
