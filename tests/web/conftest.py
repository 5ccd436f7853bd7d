"""Debian's chromium, headless, driven by selenium through Debian's chromedriver.

Nothing is downloaded: both paths are given, and Selenium Manager is told it is
offline.  The flags keep Chromium from phoning home (its connections would be refused
in a closed network, and they would pollute the network log the tests read).
Screenshots go to ``$HONEYSWITCH_ARTIFACTS`` or ``test-artifacts/`` at the top of the
checkout; the path is printed.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]



def artifacts_dir() -> Path:
    path = Path(os.environ.get("HONEYSWITCH_ARTIFACTS") or ROOT / "test-artifacts") / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def artifacts() -> Path:
    path = artifacts_dir()
    print(f"\ndashboard screenshots: {path}")
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never fetch anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-dev-shm-usage", "--window-size=1440,1500",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


BROWSER_INTERNAL = ("chrome://", "chrome-untrusted://", "about:")  # the new-tab page at start


def requested_urls(driver: Any) -> list[str]:
    """Every URL asked for since the last call (Chromium's network log), without the
    browser's own internal pages."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(BROWSER_INTERNAL):
                urls.append(url)
    return urls
