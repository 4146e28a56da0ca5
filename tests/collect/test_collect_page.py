"""The page of ``dynahate collect serve`` (``GET /``), driven in a real headless Chromium through selenium.

The browser is the system's (Debian's ``chromium`` and ``chromium-driver``), never one downloaded at run time; the
browser tests skip, saying why, only when none is found (``dynahate.testing.browser``, shared with
``tests/serve/test_page.py``). One real server of the tiny trained run per module, with ``--validate-all --votes 2``
so that every entry goes to validation whatever the tiny model says, and two matching votes settle it. What the
page shows is compared with what the API stored. The screenshots are saved in the test's temporary folder (the path
is printed) and, when ``DYNAHATE_SCREENSHOT_DIR`` is set, copied there too.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from dynahate.serve.page import CONTENT_SECURITY_POLICY
from dynahate.testing.browser import by_id, headless_chromium, open_page, screenshot_saver, wait
from dynahate.testing.cli import OFFLINE_ENV
from dynahate.testing.collect_process import add_annotators, bearer, start_collect
from dynahate.testing.serve_process import stop_serve

COLLECT = Path(__file__).resolve().parents[2] / "collect"
ROUND = "8"
WRITER, FIRST, SECOND = "writer", "ana", "ben"
POST = "people like them should never be allowed near our schools"
PERTURBED = "people like them should always be welcome near our schools"
MARKUP_POST = "<img src=x onerror=\"document.title='pwned'\"> and <b>bold</b>"
API_PATHS = {"/collect.js", "/collect.css", "/health", "/api/me", "/api/entries", "/api/queue", "/api/stats",
             "/favicon.ico"}  # and /api/entries/N/votes; /favicon.ico: the browser's own request (a 404)


# -- the files, without a browser ------------------------------------------------------------------

def test_the_page_has_no_inline_script_or_style_no_other_origin_and_inserts_text_only():
    html = (COLLECT / "page.html").read_text()
    js = (COLLECT / "page.js").read_text()
    css = (COLLECT / "page.css").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="collect.js" defer>'], scripts  # the only script: this origin's file
    assert re.findall(r"<script\b[^>]*>(.+?)</script>", html, re.S) == []
    assert not re.search(r"\sstyle\s*=|<style\b|\son[a-z]+\s*=", html, re.I)  # no inline style, no handler
    assert re.findall(r"<link\b[^>]*>", html) == ['<link rel="stylesheet" href="collect.css">']
    assert "<form" not in html  # nothing the browser could submit (with the token) if the script did not run
    for name, text in (("page.html", html), ("page.js", js), ("page.css", css)):
        assert text.strip(), name
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import", text, re.I), name  # no other origin
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "localStorage", "sessionStorage", "document.cookie", "location", "setAttribute(\"on",
                 "srcdoc", "createContextualFragment", "DOMParser"):
        assert sink not in js, sink
    # every element the script names by its id is in the page
    named = set(re.findall(r"\$\(\"([a-z0-9-]+)\"\)", js))
    ids = set(re.findall(r"\sid=\"([a-z0-9-]+)\"", html))
    assert named and named <= ids, named - ids
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


# -- a real browser against a real server ---------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:  # or the test skipped, saying why
        yield driver


@pytest.fixture(scope="module")
def collect_server(browser, trained_run, tmp_path_factory):
    """(base URL, tokens by annotator): a real ``collect serve`` on a new SQLite database (after the browser, so
    that no server starts when the browser tests skip)."""
    folder = tmp_path_factory.mktemp("collect-page")
    db = f"sqlite:///{folder / 'collect.sqlite3'}"
    tokens = add_annotators(db, [WRITER, FIRST, SECOND])
    proc, url = start_collect(trained_run, db, folder / "server.log", "--round", ROUND, "--validate-all",
                              "--votes", "2", env=OFFLINE_ENV)
    yield url, tokens
    stop_serve(proc)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return screenshot_saver(tmp_path_factory.mktemp("collect-page-screenshots"), restore_window=True)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def get(url, path, token):
    response = httpx.get(f"{url}{path}", headers=bearer(token), timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def clear_messages(driver):
    driver.execute_script("document.getElementById('status').textContent = '';"
                          "document.getElementById('error').textContent = '';")


def sign_in(driver, url, token, expect_error=False) -> str:
    open_page(driver, url)
    field = by_id(driver, "token")
    field.send_keys(token)
    by_id(driver, "sign-in-button").click()
    if expect_error:
        return wait(driver, lambda d: by_id(d, "error").text)
    return wait(driver, lambda d: by_id(d, "who").text)


def tab(driver, name, ready):
    """Open tab ``name`` and wait until ``ready`` (a CSS selector) shows its loaded content."""
    clear_messages(driver)
    by_id(driver, f"tab-{name}").click()
    wait(driver, lambda d: css(d, ready))


def write(driver, prefix, text, label=None, hate_type=None, targets=None):
    """Fill the write form ``prefix`` (``w`` the post, ``p`` its perturbation), submit, and wait for the answer."""
    from selenium.webdriver.support.ui import Select

    area = by_id(driver, f"{prefix}-text")
    area.clear()
    area.send_keys(text)
    if label is not None:
        driver.find_element("css selector", f"input[name='{prefix}-label'][value='{label}']").click()
    if hate_type is not None:
        Select(by_id(driver, f"{prefix}-type")).select_by_value(hate_type)
    if targets is not None:
        by_id(driver, f"{prefix}-targets").clear()
        by_id(driver, f"{prefix}-targets").send_keys(targets)
    clear_messages(driver)
    by_id(driver, f"{prefix}-submit").click()
    wait(driver, lambda d: by_id(d, f"{prefix}-answer").is_displayed() or by_id(d, "error").text)


def shown_answer(driver, prefix):
    box = by_id(driver, f"{prefix}-answer")
    return {key: box.find_element("css selector", selector).text for key, selector in (
        ("verdict", ".verdict"), ("id", ".answer-id"), ("label", ".answer-label"), ("model", ".answer-model"),
        ("p_hate", ".answer-p-hate"), ("status", ".status-word"))}


def expected_answer(entry):
    meant = entry["label"]
    if entry["type"]:
        meant += f" ({entry['type']}" + (f"; targets {', '.join(entry['targets'])}" if entry["targets"] else "") + ")"
    return {"verdict": "The model got it wrong" if entry["model"]["wrong"] else "The model got it right",
            "id": f"#{entry['id']}", "label": meant, "model": entry["model"]["label"],
            "p_hate": f"{entry['model']['p_hate']:.3f}", "status": entry["status"]}


def shown_figures(driver):
    """Each row of each round's table: {round: {row name: {field: text}}}."""
    tables = {}
    for table in css(driver, "#figure-tables table"):
        rows = {}
        for tr in table.find_elements("css selector", "tbody tr"):
            name = tr.find_element("css selector", "th").text
            rows[name] = {td.get_attribute("data-field"): td.text for td in tr.find_elements("css selector", "td")}
        tables[table.get_attribute("data-round")] = rows
    return tables


def expected_figures(stats):
    def row(values):
        return {key: (f"{values[key] * 100:.1f}%" if values[key] is not None else "–") if key in (
            "model_error_rate", "verified_model_error_rate", "agreement") else str(values[key]) for key in (
            "entries", "fooled", "model_error_rate", "verified_model_error_rate", "waiting", "verified", "rejected",
            "agreement")}

    return {r["round"]: {"Round total": row(r), **{name: row(v) for name, v in r["annotators"].items()}}
            for r in stats["rounds"]}


def entry_card(driver, entry_id, where):
    found = css(driver, f"#{where} li[data-entry-id='{entry_id}']")
    return found[0] if found else None


def vote_in_page(driver, entry_id, button, reason=None) -> str:
    card = wait(driver, lambda d: entry_card(d, entry_id, "queue"))
    if reason is not None:
        card.find_element("css selector", ".reason").send_keys(reason)
    clear_messages(driver)
    card.find_element("css selector", button).click()
    return wait(driver, lambda d: by_id(d, "status").text or by_id(d, "error").text)


def no_page_errors(driver):
    return [entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]


def test_write_perturb_validate_and_see_it_verified_in_entries_and_figures(collect_server, browser, screenshots):
    url, tokens = collect_server
    browser.get_log("browser")  # what earlier pages left

    # -- the writer signs in: the token leaves the field and goes nowhere else
    assert sign_in(browser, url, tokens[WRITER]) == f"Signed in as {WRITER}, round {ROUND}."
    assert by_id(browser, "token").get_attribute("value") == "" and not by_id(browser, "sign-in").is_displayed()
    assert "Content warning" in css(browser, "header")[0].text
    assert f"Round\n{ROUND}" in by_id(browser, "facts").text

    # -- a hateful post: the model's answer as the API stored it
    write(browser, "w", POST, label="hate", hate_type="derogation", targets="wom, bla")
    assert by_id(browser, "error").text == ""
    (original,) = get(url, "/api/entries", tokens[WRITER])["entries"]
    assert (original["text"], original["label"], original["type"], original["targets"]) == (
        POST, "hate", "derogation", ["wom", "bla"])
    assert original["status"] == "pending"  # --validate-all: whatever the model said
    assert shown_answer(browser, "w") == expected_answer(original)
    fooled = "the model got it wrong" if original["model"]["wrong"] else "the model got it right"
    assert by_id(browser, "status").text == f"Entry #{original['id']} stored: {fooled}. Now write its perturbation."

    # -- its perturbation: the same post, the other label preselected
    assert by_id(browser, "perturb").is_displayed()
    assert by_id(browser, "p-text").get_attribute("value") == POST
    assert css(browser, "input[name='p-label']:checked")[0].get_attribute("value") == "not hate"
    assert not by_id(browser, "p-hate").is_displayed()
    write(browser, "p", PERTURBED)
    assert by_id(browser, "error").text == ""
    perturbation, again = get(url, "/api/entries", tokens[WRITER])["entries"]
    assert again["id"] == original["id"] and again["perturbation_id"] == perturbation["id"]
    assert (perturbation["text"], perturbation["label"], perturbation["original_id"]) == (
        PERTURBED, "not hate", original["id"])
    assert shown_answer(browser, "p") == expected_answer(perturbation)
    assert shown_answer(browser, "w") == expected_answer(original)  # still on screen
    assert not by_id(browser, "p-text").is_enabled() and not by_id(browser, "p-submit").is_displayed()
    screenshots(browser, "collect_write")
    by_id(browser, "new-post").click()  # a clean form for the next post
    assert by_id(browser, "w-text").get_attribute("value") == "" and by_id(browser, "w-text").is_enabled()
    assert not by_id(browser, "perturb").is_displayed() and not by_id(browser, "w-answer").is_displayed()
    assert css(browser, "input[name='w-label']:checked") == []

    # -- the figures with both entries waiting, as the API gives them to the writer
    tab(browser, "figures", "#figure-tables table")
    before = get(url, "/api/stats", tokens[WRITER])
    assert shown_figures(browser) == expected_figures(before)
    (round_before,) = before["rounds"]
    assert (round_before["verified"], round_before["waiting"]) == (0, 2)
    assert list(shown_figures(browser)[ROUND]) == ["Round total", WRITER]  # a non-owner sees their own row only

    # -- two validators, each a new page load and their own token, say the original is correct
    for number, name in enumerate((FIRST, SECOND), start=1):
        assert sign_in(browser, url, tokens[name]) == f"Signed in as {name}, round {ROUND}."
        tab(browser, "validate", "#queue li")
        card = wait(browser, lambda d: entry_card(d, original["id"], "queue"))
        assert card.find_element("css selector", ".post").text == POST
        assert WRITER not in card.text and "p_hate" not in card.text  # no writer, no model answer
        assert "type derogation; targets wom, bla" in card.text
        if number == 1:
            # a flag without a reason: the API's 422, shown as text, and no vote counted
            assert no_page_errors(browser) == []
            said = vote_in_page(browser, original["id"], ".vote-flag")
            assert said == (f"Your vote on entry #{original['id']} was not counted: the server answered 422: "
                            "a vote 'flagged' gives a reason")
            (refused,) = no_page_errors(browser)  # the browser logs the 422 answer itself, and nothing else
            assert "/votes - Failed to load resource" in refused["message"] and "422" in refused["message"]
            screenshots(browser, "collect_validate")
        said = vote_in_page(browser, original["id"], ".vote-correct")
        status = "pending" if number == 1 else "verified"
        noun = "vote" if number == 1 else "votes"
        assert said == f"Entry #{original['id']}: your vote (correct) is counted. Its status is now {status} " \
                       f"({number} {noun})."
        wait(browser, lambda d: entry_card(d, original["id"], "queue") is None)  # the queue was refreshed
        assert entry_card(browser, perturbation["id"], "queue") is not None  # the perturbation still waits

    # -- the writer sees the original verified, in their entries and in the figures
    sign_in(browser, url, tokens[WRITER])
    tab(browser, "mine", "#entries li")
    stored = {entry["id"]: entry for entry in get(url, "/api/entries", tokens[WRITER])["entries"]}
    assert stored[original["id"]]["status"] == "verified" and stored[perturbation["id"]]["status"] == "pending"
    for entry in stored.values():
        card = entry_card(browser, entry["id"], "entries")
        assert card.find_element("css selector", ".post").text == entry["text"]
        assert card.find_element("css selector", ".status").text == entry["status"]
        assert card.find_element("css selector", ".entry-label").text == expected_answer(entry)["label"]
        wrong = "wrong" if entry["model"]["wrong"] else "right"
        assert card.find_element("css selector", ".entry-model").text == (
            f"{entry['model']['label']}, p_hate {entry['model']['p_hate']:.3f}: the model got it {wrong}")
        assert card.find_element("css selector", ".entry-status").text.startswith(entry["status"])
    assert f"perturbed in #{perturbation['id']}" in entry_card(browser, original["id"], "entries").text
    assert f"perturbation of #{original['id']}" in entry_card(browser, perturbation["id"], "entries").text
    screenshots(browser, "collect_entries")

    tab(browser, "figures", "#figure-tables table")
    after = get(url, "/api/stats", tokens[WRITER])
    assert shown_figures(browser) == expected_figures(after)
    (round_after,) = after["rounds"]
    assert (round_after["verified"], round_after["waiting"]) == (1, 1)
    assert shown_figures(browser)[ROUND]["Round total"]["verified"] == "1"
    assert shown_figures(browser)[ROUND]["Round total"]["agreement"] == "100.0%"  # one pair of votes, agreeing
    screenshots(browser, "collect_figures")

    # the token: in memory only; the page asked for nothing but its files and the API
    assert browser.execute_script("return [localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert tokens[WRITER] not in browser.current_url and urlsplit(browser.current_url).path == "/"
    fetched = {re.sub(r"/api/entries/\d+/votes$", "/api/entries", urlsplit(name).path) for name in
               browser.execute_script("return performance.getEntriesByType('resource').map(entry => entry.name)")}
    assert fetched <= API_PATHS, fetched
    assert no_page_errors(browser) == []

    # 360 px wide: nothing wider than the window (the figures' table scrolls in its own box)
    browser.set_window_size(360, 800)
    try:
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        screenshots(browser, "collect_figures_360", width=360)
    finally:
        browser.set_window_size(1000, 1000)


def test_a_post_with_markup_shows_as_text_and_runs_nothing(collect_server, browser):
    url, tokens = collect_server
    sign_in(browser, url, tokens[SECOND])
    title = browser.title
    write(browser, "w", MARKUP_POST, label="not hate")
    assert by_id(browser, "error").text == ""
    tab(browser, "mine", "#entries li")
    (entry, *_) = get(url, "/api/entries", tokens[SECOND])["entries"]
    assert entry["text"] == MARKUP_POST
    assert entry_card(browser, entry["id"], "entries").find_element("css selector", ".post").text == MARKUP_POST
    # and in another annotator's queue
    sign_in(browser, url, tokens[FIRST])
    tab(browser, "validate", "#queue li")
    card = wait(browser, lambda d: entry_card(d, entry["id"], "queue"))
    assert card.find_element("css selector", ".post").text == MARKUP_POST
    assert css(browser, "main img, main b, main script") == []
    assert browser.title == title
    assert httpx.get(f"{url}/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_a_wrong_token_and_a_refused_post_show_the_api_error(collect_server, browser):
    url, tokens = collect_server
    for token in ("dhc_000000000000_" + "A" * 43, "not-a-token"):
        api = httpx.get(f"{url}/api/me", headers=bearer(token))
        assert api.status_code == 401
        said = sign_in(browser, url, token, expect_error=True)
        assert said == f"Signing in failed: the server answered 401: {api.json()['error']}"
        assert by_id(browser, "sign-in").is_displayed() and not by_id(browser, "session").is_displayed()
        assert by_id(browser, "error").get_attribute("role") == "alert"
    # signed in, a hateful post without its type: the API's 422, before the model reads it
    sign_in(browser, url, tokens[WRITER])
    write(browser, "w", "a post", label="hate")
    refused = httpx.post(f"{url}/api/entries", json={"text": "a post", "label": "hate"},
                         headers=bearer(tokens[WRITER]))
    assert refused.status_code == 422
    assert by_id(browser, "error").text == (
        f"Your post was not stored: the server answered 422: {refused.json()['error']}")
    assert not by_id(browser, "w-answer").is_displayed()
