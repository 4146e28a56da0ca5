"""The system's headless Chromium driven through selenium, for the tests of the pages (``dynahate serve``'s and
``dynahate collect serve``'s).

The browser is Debian's ``chromium`` and ``chromium-driver`` (which ``.ci/run`` installs when missing), never one
downloaded at run time: without it, :func:`headless_chromium` skips the test, printing why. Screenshots of the
whole page go to a folder and, when ``DYNAHATE_SCREENSHOT_DIR`` is set, are copied there too. selenium is imported
only when a browser is used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

SCREENSHOT_DIR_ENV = "DYNAHATE_SCREENSHOT_DIR"
WINDOW = (1000, 1000)  # width, height at launch
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-extensions", "--no-first-run")


def find_chromium() -> tuple[str, str] | str:
    """(browser, driver) of the system's Chromium, or why there is none."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver") or next(
        (path for path in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if os.access(path, os.X_OK)),
        None)
    if browser is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
        return (f"no {missing} on PATH: install Debian's chromium and chromium-driver (.ci/run does, as root or "
                "with sudo) to run the page's browser tests")
    return browser, driver


@contextmanager
def headless_chromium() -> Iterator[WebDriver]:
    """The system's Chromium, headless, its console logged (``get_log("browser")``), quit on leaving; or the test
    skipped, saying why, when there is none. The driver is given: Selenium Manager is not asked for one (and never
    downloads a browser)."""
    found = find_chromium()
    if isinstance(found, str):
        print(f"\nSKIPPED: {found}")
        pytest.skip(found)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with mock.patch.dict(os.environ, {"SE_OFFLINE": "true", "SE_AVOID_STATS": "true"}):
        driver = webdriver.Chrome(options=options, service=Service(found[1]))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_saver(folder: Path, restore_window: bool = False) -> Callable[..., Path]:
    """``save(driver, name, width=1000)``: a picture of the whole page ``width`` px wide (the window grown until the
    page fits) as ``folder/name.png``, its path printed and, when ``DYNAHATE_SCREENSHOT_DIR`` is set, copied there;
    with ``restore_window``, the window then goes back to its size at launch."""
    extra = os.environ.get(SCREENSHOT_DIR_ENV)

    def save(driver: WebDriver, name: str, width: int = 1000) -> Path:
        path = folder / f"{name}.png"
        driver.set_window_size(width, 800)
        for _ in range(3):  # grow the window until the whole page fits in one picture
            inner, full = driver.execute_script("return [window.innerHeight, document.documentElement.scrollHeight]")
            if inner >= full:
                break
            driver.set_window_size(width, driver.get_window_size()["height"] + full - inner)
        assert driver.save_screenshot(str(path))
        if restore_window:
            driver.set_window_size(*WINDOW)
        print(f"\nscreenshot of the page: {path}")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return save


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 60) -> Any:
    """What ``condition(driver)`` returns once it is true, asked again until ``timeout`` seconds have passed."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def by_id(driver: WebDriver, name: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def open_page(driver: WebDriver, url: str) -> None:
    """Load the page at ``url``/ (a new load: whatever it held is forgotten) and wait until its facts show."""
    driver.get(f"{url}/")
    wait(driver, lambda d: "Decision rule" in by_id(d, "facts").text)
