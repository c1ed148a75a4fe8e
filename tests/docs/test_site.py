"""The built documentation site in a real browser (Debian's headless Chromium, driven by its chromedriver):
the navigation leads to a policy's page, and the search finds a policy by a word of its page. The site is
built the way `make docs` builds it (strict), served over HTTP from a temporary folder; a screenshot of the
search is saved to `.cache/screenshots/docs-search.png`."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers import ROOT

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = ROOT / ".cache" / "screenshots"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder)],
        cwd=ROOT, check=True, timeout=240, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM and CHROMEDRIVER, "Debian's chromium and chromium-driver (make setup installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, 30)


def test_the_navigation_leads_from_the_home_page_to_a_policy_page(site: str, browser: WebDriver) -> None:
    browser.get(site)
    assert browser.find_element(By.TAG_NAME, "h1").text == "haproxy-guard"
    link = _wait(browser).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, 'a[href$="policies/"]'))
    )
    browser.get(str(link.get_attribute("href")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Policies"
    policy = browser.find_element(By.CSS_SELECTOR, 'nav a[href$="prestop-wait/"]')
    browser.get(str(policy.get_attribute("href")))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("prestop-wait")
    text = browser.find_element(By.TAG_NAME, "article").text
    assert "Default severity" in text and "What it checks" in text and "Change it or opt out" in text


def test_the_search_finds_a_policy_by_a_word_of_its_page(site: str, browser: WebDriver) -> None:
    browser.get(site)
    _wait(browser).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "input.md-search__input")))
    browser.find_element(By.TAG_NAME, "body").send_keys("/")  # the theme's keyboard shortcut: focus the search
    field = browser.switch_to.active_element
    assert "md-search__input" in str(field.get_attribute("class"))
    field.send_keys("terminationGracePeriodSeconds")
    results = _wait(browser).until(
        expected_conditions.presence_of_all_elements_located((By.CSS_SELECTOR, ".md-search-result__item a"))
    )
    targets = [str(result.get_attribute("href")) for result in results]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "docs-search.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes().startswith(b"\x89PNG")
    assert any("policies/termination-grace-period/" in target for target in targets), targets
