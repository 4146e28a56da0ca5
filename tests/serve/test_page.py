"""The page of ``dynahate serve`` (``GET /``), driven in a real headless Chromium through selenium.

The browser is the system's (Debian's ``chromium`` and ``chromium-driver``, which ``.ci/run`` installs
when missing), never one downloaded at run time; the tests skip, saying why, only when none is found.
One real server of the tiny trained run, with ``API_KEY`` set, so the page must ask for the key; and
``--api-docs``' ``/docs`` page, whose Content-Security-Policy the browser enforces.
The screenshots are saved in the test's temporary folder (the path is printed) and, when
``DYNAHATE_SCREENSHOT_DIR`` is set, copied there too.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dynahate.serve.page import CONTENT_SECURITY_POLICY
from dynahate.testing.browser import by_id, headless_chromium, open_page, screenshot_saver, wait
from dynahate.testing.cli import OFFLINE_ENV
from dynahate.testing.serve_process import start_serve, stop_serve

SERVE = Path(__file__).resolve().parents[2] / "serve"
KEY = "page-test-key"
MAX_TEXT_CHARS = 2000
SCRIPT_POSTS = ["<img src=x onerror=\"document.title='pwned'\">",
                "<script>document.title='pwned'</script> and <b>bold</b>"]


# -- the files, without a browser ------------------------------------------------------------------

def test_the_page_has_no_inline_script_or_style_no_other_origin_and_inserts_text_only():
    html = (SERVE / "page.html").read_text()
    js = (SERVE / "page.js").read_text()
    css = (SERVE / "page.css").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="page.js" defer>'], scripts  # the only script: this origin's file
    assert re.findall(r"<script\b[^>]*>(.+?)</script>", html, re.S) == []
    assert not re.search(r"\sstyle\s*=|<style\b|\son[a-z]+\s*=", html, re.I)  # no inline style, no handler
    assert re.findall(r"<link\b[^>]*>", html) == ['<link rel="stylesheet" href="page.css">']
    for name, text in (("page.html", html), ("page.js", js), ("page.css", css)):
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import", text, re.I), name  # no other origin
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "localStorage", "sessionStorage", "document.cookie", "location"):
        assert sink not in js, sink
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


# -- a real browser against a real server ---------------------------------------------------------

@pytest.fixture(scope="module")
def page_server(trained_run, tmp_path_factory):
    log = tmp_path_factory.mktemp("page-serve") / "server.log"
    proc, url = start_serve(trained_run, log, "--max-text-chars", str(MAX_TEXT_CHARS),
                            env={**OFFLINE_ENV, "API_KEY": KEY})
    yield url
    stop_serve(proc)


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:  # or the test skipped, saying why
        yield driver


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return screenshot_saver(tmp_path_factory.mktemp("page-screenshots"))


def type_posts(driver, posts, keyboard=True):
    """Fill the text area: typed, or set by script (characters a keyboard cannot type, long posts)."""
    area = by_id(driver, "posts")
    area.clear()
    if keyboard:
        area.send_keys("\n".join(posts))
    else:
        driver.execute_script("arguments[0].value = arguments[1];", area, "\n".join(posts))
    return area


def classify_in_page(driver, region: str) -> str:
    """Press Classify and wait until ``region`` (the status or the error) says what came of it."""
    driver.execute_script("document.getElementById('status').textContent = '';"
                          "document.getElementById('error').textContent = '';")
    by_id(driver, "classify").click()

    def said(d):
        text = by_id(d, region).text
        return text if text and not text.startswith("Classifying") else False

    return wait(driver, said)


def shown_results(driver):
    from selenium.webdriver.common.by import By

    rows = []
    for item in driver.find_elements(By.CSS_SELECTOR, "#results li"):
        rows.append({key: item.find_element(By.CLASS_NAME, css).text for key, css in (
            ("line", "line"), ("label", "label"), ("post", "post"), ("p_hate", "p-hate"), ("threshold", "threshold"))})
    return rows


def api_classify(url, posts):
    response = httpx.post(f"{url}/v1/classify", json={"texts": posts}, headers={"Authorization": f"Bearer {KEY}"},
                          timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def enter_key(driver, key):
    field = by_id(driver, "api-key")
    field.clear()
    field.send_keys(key)


@pytest.mark.integration
def test_the_page_classifies_posts_with_the_keyboard_as_the_api_does(page_server, browser, dev_posts, screenshots,
                                                                      trained_run):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    served = api_classify(page_server, dev_posts[:12])
    first = {}
    for post, item in zip(dev_posts, served, strict=False):
        first.setdefault(item["label"], post)
    posts = list(first.values())[:2] if len(first) == 2 else dev_posts[:2]
    expected = api_classify(page_server, posts)

    open_page(browser, page_server)
    facts = by_id(browser, "facts").text
    health = httpx.get(f"{page_server}/health").json()
    assert str(trained_run) in facts and "score" in facts and f"{health['classify']['token_budget']} padded" in facts
    assert "hate when p_hate ≥ 0.500" in facts and "API key\nrequired" in facts
    assert "Content warning" in browser.find_element("css selector", "header").text
    key_field = by_id(browser, "api-key")
    assert key_field.is_displayed() and key_field.get_attribute("type") == "password"

    # keyboard only: Tab from the key field to the text area, type, Ctrl+Enter
    key_field.click()
    key_field.send_keys(KEY)
    key_field.send_keys(Keys.TAB)
    assert browser.switch_to.active_element == by_id(browser, "posts")
    ActionChains(browser).send_keys("\n" + posts[0] + "\n\n" + posts[1]).perform()  # line 1 blank, line 3 too
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    status = wait(browser, lambda d: by_id(d, "status").text.startswith("Classified") and by_id(d, "status").text)
    hate = sum(item["label"] == "hate" for item in expected)
    assert status == f"Classified 2 posts: {hate} hate, {2 - hate} not hate."
    assert by_id(browser, "status").get_attribute("aria-live") == "polite"
    rows = shown_results(browser)
    assert [row["label"] for row in rows] == [item["label"] for item in expected]
    assert [row["p_hate"] for row in rows] == [f"p_hate {item['p_hate']:.3f}" for item in expected]
    assert [row["line"] for row in rows] == ["Line 2", "Line 4"]
    assert [row["post"].strip() for row in rows] == [post.strip() for post in posts]
    assert all(row["threshold"] == "threshold 0.500" for row in rows)
    meters = browser.find_elements("css selector", "#results meter")
    assert [float(m.get_attribute("value")) for m in meters] == pytest.approx([i["p_hate"] for i in expected])
    assert all(m.get_attribute("aria-label").startswith("p_hate of line") for m in meters)
    # Tab from the text area reaches Classify; Enter on it classifies again
    by_id(browser, "posts").send_keys(Keys.TAB)
    assert browser.switch_to.active_element == by_id(browser, "classify")
    browser.execute_script("document.getElementById('status').textContent = '';")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert wait(browser, lambda d: by_id(d, "status").text.startswith("Classified"))

    # the key: in memory only, never in the URL, storage or cookies; the page asked for nothing but the API
    assert browser.execute_script("return [localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert KEY not in browser.current_url and urlsplit(browser.current_url).path == "/"
    fetched = {urlsplit(name).path for name in browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")}
    # and the browser's own request for /favicon.ico (a 404)
    assert fetched <= {"/page.js", "/page.css", "/health", "/v1/classify", "/favicon.ico"}, fetched
    assert {"/health", "/v1/classify"} <= fetched
    screenshots(browser, "serve_page")
    problems = [entry for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
    assert problems == []


@pytest.mark.integration
def test_a_post_with_markup_shows_as_text_and_runs_nothing(page_server, browser):
    open_page(browser, page_server)
    title = browser.title
    enter_key(browser, KEY)
    type_posts(browser, SCRIPT_POSTS)
    assert classify_in_page(browser, "status").startswith("Classified 2 posts")
    assert [row["post"] for row in shown_results(browser)] == SCRIPT_POSTS
    assert browser.find_elements("css selector", "#results img, #results script, #results b") == []
    assert browser.title == title
    # the Content-Security-Policy is in force: an inline script added to the page does not run
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
                           "document.body.append(s);")
    assert browser.execute_script("return window.inlineRan === undefined")
    csp = httpx.get(f"{page_server}/").headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert any("Content Security Policy" in entry["message"] for entry in browser.get_log("browser"))


@pytest.mark.integration
def test_a_missing_or_wrong_key_shows_the_401_message_asking_for_it(page_server, browser):
    open_page(browser, page_server)
    type_posts(browser, ["a post"])
    assert classify_in_page(browser, "error") == (
        "This server needs an API key (401). Enter it in the API key field and press Classify again.")
    assert browser.switch_to.active_element == by_id(browser, "api-key")
    enter_key(browser, "not-the-key")
    assert classify_in_page(browser, "error") == (
        "The API key was not accepted (401). Check it and press Classify again.")
    assert by_id(browser, "error").get_attribute("role") == "alert"
    assert shown_results(browser) == []


@pytest.mark.integration
def test_an_over_long_post_and_a_bad_post_show_the_message_naming_their_line(page_server, browser):
    open_page(browser, page_server)
    enter_key(browser, KEY)
    type_posts(browser, ["fine", "also fine"])
    assert classify_in_page(browser, "status").startswith("Classified 2 posts")
    assert len(shown_results(browser)) == 2
    type_posts(browser, ["fine", "", "x" * (MAX_TEXT_CHARS + 500)], keyboard=False)
    assert classify_in_page(browser, "error") == (
        f"Too long (413). Line 3: the post has {MAX_TEXT_CHARS + 500} characters, over the limit of "
        f"{MAX_TEXT_CHARS} characters per text (--max-text-chars)")
    assert shown_results(browser) == []  # the earlier request's results are gone: none reads as this one's
    area = type_posts(browser, ["", "fine", "LONE half a character"], keyboard=False)
    browser.execute_script("arguments[0].value = arguments[0].value.replace('LONE', String.fromCharCode(0xD800));",
                           area)
    assert classify_in_page(browser, "error") == (
        "Not accepted (422). Line 3: the post holds a lone surrogate (U+D800 at character 0), which is not valid "
        "Unicode text")
    type_posts(browser, ["fine"])
    assert classify_in_page(browser, "status").startswith("Classified 1 post")
    type_posts(browser, ["", "  "], keyboard=False)
    assert classify_in_page(browser, "error") == "Paste at least one post, one per line."
    assert shown_results(browser) == []


@pytest.mark.integration
def test_the_page_is_usable_360_px_wide(page_server, browser, screenshots):
    from selenium.webdriver.common.by import By

    open_page(browser, page_server)
    browser.set_window_size(360, 800)
    try:
        enter_key(browser, KEY)
        type_posts(browser, ["a post long enough to wrap " * 4, "another_post_without_any_space_" * 4])
        assert classify_in_page(browser, "status").startswith("Classified 2 posts")
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        for element in browser.find_elements(By.CSS_SELECTOR, "textarea, input, button, #results li, #facts dd"):
            if element.is_displayed():
                assert element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width + 0.5
        for field in browser.find_elements(By.CSS_SELECTOR, "textarea, input"):
            assert browser.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
        screenshots(browser, "serve_page_360", width=360)
    finally:
        browser.set_window_size(1000, 1000)


def test_the_api_docs_policy_runs_the_docs_page_own_inline_script_and_blocks_any_other(browser):
    """``--api-docs``' ``/docs`` in a real browser: its one inline script passes the policy by its hash (offline, the
    CDN's Swagger UI does not load, so the script then fails on ``SwaggerUIBundle``: it ran), and a script added
    to the page does not run. The app is FastAPI's alone, with the docs routes of ``dynahate serve``."""
    from fastapi import FastAPI

    from dynahate.serve.api_docs import add_api_docs, remove_framework_docs
    from dynahate.testing.serve_process import serving_in_thread

    app = FastAPI()
    remove_framework_docs(app)
    add_api_docs(app)
    browser.get_log("browser")  # what earlier tests left
    with serving_in_thread(app) as url:
        browser.get(f"{url}/docs")
        wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        ran = browser.execute_script("try { return typeof ui === 'object'; } catch (e) { return e.name; }")
        browser.execute_script("const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                               "document.body.append(s);")
        assert browser.execute_script("return window.injected === undefined")
    messages = [entry["message"] for entry in browser.get_log("browser")]
    blocked = [m for m in messages if "Content Security Policy" in m]
    assert blocked and all("inline script" in m or "script-src" in m for m in blocked), messages
    assert len(blocked) == 1, blocked  # the injected script only, not the page's own
    assert ran is True or any("SwaggerUIBundle is not defined" in m for m in messages), (ran, messages)
