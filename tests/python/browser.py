"""Headless Chromium (Debian's) driven through ChromeDriver by selenium, for the console's
tests. Each page a test looks at is saved as a screenshot under $KEEL_ARTEFACTS/console
(default: artefacts/console in the checkout), which the suite keeps."""

import atexit
import os
import pathlib
import shutil
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ARTEFACTS = pathlib.Path(
    os.environ.get("KEEL_ARTEFACTS", pathlib.Path(__file__).resolve().parents[2] / "artefacts")
) / "console"


def chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("KEEL_CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="keel-chromium-")
    atexit.register(shutil.rmtree, profile, ignore_errors=True)
    for arg in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000",
    ]:
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("KEEL_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


def open_page(driver, url: str, timeout: float = 15.0) -> float:
    """Loads a console page and waits until its script has rendered it; returns the
    milliseconds from navigation start to that render."""
    driver.get(url)
    wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready === '1'"), timeout)
    return driver.execute_script("return window.keelRenderedAt")


def wait_for(driver, condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.time() + timeout
    last_error = None
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # elements come and go while the page re-renders
            last_error = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error!r})")


def screenshot(driver, name: str) -> pathlib.Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def texts(driver, css: str) -> list:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]
