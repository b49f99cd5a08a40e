"""A headless Chromium for the dashboard's tests, benchmark and screenshots, driven by Selenium.

The system's browser and driver only (Debian: ``apt-get install chromium chromium-driver``):
the driver's path is given to Selenium, which then skips Selenium Manager, so nothing is
ever downloaded. :func:`missing` says why no browser can run here (or None);
:func:`chromium` starts one (about half a second) with the console log kept, so that a
caller can read the page's errors (:func:`console_errors`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"
INSTALL = "install a browser with `apt-get install chromium chromium-driver` (Debian) and `pip install -e '.[dev]'`"


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why no headless browser can be started here (with how to get one), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed: {INSTALL}"
    if _find(BROWSERS) is None:
        return f"no Chromium found: {INSTALL}"
    if _find((DRIVER,)) is None:
        return f"no chromedriver found: {INSTALL}"
    return None


def chromium(width: int = 1440, height: int = 1000) -> Any:
    """A headless Chromium (a Selenium WebDriver) on the system's browser and driver. Raises
    RuntimeError (with how to install one) when there is none."""
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # (Selenium's usage statistics: nothing leaves the machine)
    options = webdriver.ChromeOptions()
    options.binary_location = _find(BROWSERS)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking",
                 f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=_find((DRIVER,))))


def console_errors(driver: Any) -> list[str]:
    """The page's console messages of level SEVERE since the last call (errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
