"""``dynahate serve`` as a process of the tiny trained run: what it prints as it starts and stops, and what it
exposes beyond the API with ``--api-docs`` and ``--cors-origin`` (off by default: see ``test_serve.py``)."""

import base64
import hashlib
import re
import signal

import httpx
import pytest

from dynahate.serve.api_docs import SWAGGER_CSS, SWAGGER_JS
from dynahate.testing.cli import OFFLINE_ENV
from dynahate.testing.serve_process import start_serve, trickle

pytestmark = pytest.mark.integration

KEY = "docs-test-key"
ORIGIN = "https://app.example.org"
SERVING = re.compile(r"^serving \S+ on http://127\.0\.0\.1:\d+ \(POST /v1/classify", re.M)
MODEL_CONFIG = '"architectures": ['  # a line of each print of the model's configuration (transformers' INFO log)


def stop(proc, sig: int) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=120)


def assert_calm_stop(code: int, text: str, name: str) -> None:
    assert code == 0, text[-3000:]
    assert text.splitlines()[-1] == f"stopped ({name}): the server is down", text[-3000:]
    assert "error:" not in text and "Traceback" not in text, text[-3000:]


def test_ctrl_c_is_a_calm_stop_start_up_prints_no_model_configuration_and_no_page_leaves_the_api_alone(trained_run,
                                                                                                        tmp_path):
    log = tmp_path / "server.log"
    proc, url = start_serve(trained_run, log, "--no-page", env=OFFLINE_ENV)
    try:
        for path in ("/", "/page.js", "/page.css"):
            assert httpx.get(f"{url}{path}").status_code == 404, path
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.post(f"{url}/v1/classify", json={"texts": ["a post"]}, timeout=120).status_code == 200
    finally:
        code = stop(proc, signal.SIGINT)
    text = log.read_text()
    assert_calm_stop(code, text, "SIGINT")
    assert "GET / (a page" not in text
    assert text.count(MODEL_CONFIG) == 0, text[:3000]  # LLaMA-Factory's load printed it four times
    assert len(SERVING.findall(text)) == 1
    print(f"\nstart-up and stop printed {len(text.splitlines())} lines")


def test_api_docs_behind_the_key_under_a_policy_one_cors_origin_slow_headers_cut_off_and_sigterm_a_calm_stop(
        trained_run, tmp_path):
    log = tmp_path / "server.log"
    proc, url = start_serve(trained_run, log, "--api-docs", "--cors-origin", ORIGIN, "--header-timeout", "1",
                            env={**OFFLINE_ENV, "API_KEY": KEY})
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        # the documentation: behind the key, /redoc never
        for path in ("/docs", "/openapi.json"):
            refused = httpx.get(f"{url}{path}")
            assert refused.status_code == 401 and "missing or wrong API key" in refused.json()["error"], path
        assert httpx.get(f"{url}/redoc", headers=auth).status_code == 404
        assert httpx.get(f"{url}/docs/oauth2-redirect", headers=auth).status_code == 404
        schema = httpx.get(f"{url}/openapi.json", headers=auth)
        assert schema.status_code == 200 and "/v1/classify" in schema.json()["paths"]
        assert not {"/docs", "/openapi.json", "/"} & set(schema.json()["paths"])
        docs = httpx.get(f"{url}/docs", headers=auth)
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        # its policy: the one script and style sheet it loads, its one inline script by hash, nothing else
        policy = docs.headers["content-security-policy"]
        assert re.findall(r'<script src="([^"]+)"', docs.text) == [SWAGGER_JS]
        assert re.findall(r'<link type="text/css" rel="stylesheet" href="([^"]+)"', docs.text) == [SWAGGER_CSS]
        (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert policy == (f"default-src 'none'; script-src {SWAGGER_JS} 'sha256-{digest}'; style-src {SWAGGER_CSS}; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                          "frame-ancestors 'none'")
        assert "'/openapi.json'" in inline and docs.headers["x-content-type-options"] == "nosniff"

        # CORS: the one origin named, no other
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = httpx.options(f"{url}/v1/classify", headers={"Origin": ORIGIN, **preflight})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
        other = httpx.options(f"{url}/v1/classify", headers={"Origin": "https://elsewhere.example", **preflight})
        assert "access-control-allow-origin" not in other.headers
        for origin, expected in ((ORIGIN, ORIGIN), ("https://elsewhere.example", None)):
            answer = httpx.post(f"{url}/v1/classify", json={"texts": ["a post"]}, timeout=120,
                                headers={"Origin": origin, **auth})
            assert answer.status_code == 200 and answer.headers.get("access-control-allow-origin") == expected
            assert "access-control-allow-credentials" not in answer.headers

        # --header-timeout 1: headers sent a byte every 50 ms are cut off after about a second
        request = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
        answer, sent, took = trickle(url, request, every_s=0.05, limit_s=30)
        assert answer.startswith(b"HTTP/1.1 408 ") and sent < len(request) and took < 7, (answer, sent, took)
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        code = stop(proc, signal.SIGTERM)
    text = log.read_text()
    assert_calm_stop(code, text, "SIGTERM")
    serving = next(line for line in text.splitlines() if line.startswith("serving "))
    assert serving.endswith("GET / (a page to try it in a browser), GET /docs (the API's documentation))"), serving
