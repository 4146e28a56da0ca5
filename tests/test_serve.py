"""``dynahate serve`` over real HTTP on loopback, with the trained tiny adapter."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import OFFLINE_ENV, run_cli
from dynahate.eval.serve_process import start_serve, stop_serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(trained_run, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    proc, url = start_serve(trained_run, log, "--max-texts", "16", env=OFFLINE_ENV)
    yield url, log
    stop_serve(proc)


@pytest.fixture(scope="module")
def dev_posts(prepared_data):
    return [json.loads(line)["input"] for line in (prepared_data / "dynahate_dev.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def offline(trained_run, prepared_data, tmp_path_factory):
    """`dynahate predict` on the dev split: what the server must answer."""
    out = tmp_path_factory.mktemp("offline") / "pred.jsonl"
    run_cli(["dynahate", "predict", "--adapter", str(trained_run), "--input", str(prepared_data / "dynahate_dev.jsonl"),
             "--output", str(out)])
    return [json.loads(line) for line in out.read_text().splitlines()]


def classify(url, texts, timeout=120):
    return httpx.post(f"{url}/v1/classify", json={"texts": texts}, timeout=timeout)


def assert_same(served, expected):
    assert [s["label"] for s in served] == [e["label"] for e in expected]
    for s, e in zip(served, expected):
        assert s["p_hate"] == pytest.approx(e["p_hate"], abs=1e-4)


def test_health_says_what_is_loaded(server, trained_run):
    health = httpx.get(f"{server[0]}/health").json()
    base = json.loads((trained_run / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert health["status"] == "ok" and health["model_loaded"] is True
    assert health["adapter"] == str(trained_run) and health["base_model"] == base and health["quantized"] is True
    assert health["template"] == "dynahate" and health["version"]


def test_classify_equals_dynahate_predict(server, dev_posts, offline):
    served = []
    for start in range(0, len(dev_posts), 16):
        response = classify(server[0], dev_posts[start : start + 16])
        assert response.status_code == 200, response.text
        served += response.json()
    assert_same(served, offline)


def test_chat_completions_answer_with_a_label_from_the_post_alone(server, dev_posts, offline):
    answers = []
    for post in dev_posts[:6]:
        response = httpx.post(f"{server[0]}/v1/chat/completions", timeout=120, json={
            "model": "dynahate", "messages": [{"role": "user", "content": post}], "temperature": 0, "max_tokens": 4})
        assert response.status_code == 200, response.text
        answers.append(response.json()["choices"][0]["message"]["content"].strip())
    assert all(answer in ("hate", "not hate") for answer in answers), answers
    agree = sum(a == o["label"] for a, o in zip(answers, offline[:6]))
    assert agree >= 5, (answers, [o["label"] for o in offline[:6]])


@pytest.mark.parametrize("body, status, message", [
    ({"texts": []}, 422, "'texts' is empty"),
    ({"texts": ["fine", "  "]}, 422, "texts[1] is empty"),
    ({"texts": [3]}, 422, "texts.0: Input should be a valid string"),
    ({"text": "a post"}, 422, "texts: Field required"),
    ({"texts": ["a post"] * 17}, 413, "17 texts in one request; the limit is 16"),
    ({"texts": ["word " * 1500]}, 413, "-token prompt; the limit is 1024"),
    (b"{not json", 422, "JSON decode error"),
])
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(server, body, status, message):
    url = server[0]
    if isinstance(body, bytes):
        response = httpx.post(f"{url}/v1/classify", content=body, headers={"content-type": "application/json"})
    else:
        response = httpx.post(f"{url}/v1/classify", json=body)
    assert response.status_code == status and message in response.json()["error"], response.text
    assert classify(url, ["still serving"]).status_code == 200


def test_a_burst_of_200_requests_from_20_clients_is_answered_exactly(server, dev_posts, offline):
    url = server[0]
    before = httpx.get(f"{url}/health").json()["served"]
    # request i carries 1-3 posts starting at post i mod len(posts)
    requests = [[(i + k) % len(dev_posts) for k in range(1 + i % 3)] for i in range(200)]

    def send(indices):
        started = time.perf_counter()
        response = classify(url, [dev_posts[j] for j in indices], timeout=300)
        return indices, response, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, requests))
    seconds = time.perf_counter() - started
    for indices, response, _ in answers:
        assert response.status_code == 200, response.text
        assert_same(response.json(), [offline[j] for j in indices])
    after = httpx.get(f"{url}/health").json()["served"]
    posts = sum(len(r) for r in requests)
    assert after["requests"] - before["requests"] == 200 and after["posts"] - before["posts"] == posts
    batches = after["batches"] - before["batches"]
    latencies = sorted(latency for _, _, latency in answers)
    print(f"\n200 requests ({posts} posts) from 20 clients in {seconds:.2f}s: {posts / seconds:.1f} posts/s, "
          f"{batches} model batches (largest {after['largest_batch']}), p50 {latencies[100] * 1000:.0f} ms, "
          f"p99 {latencies[197] * 1000:.0f} ms")
    assert batches < 200, "concurrent requests were not batched together"


def test_posts_are_not_logged(server, dev_posts):
    classify(server[0], dev_posts[:2])
    httpx.post(f"{server[0]}/v1/chat/completions", timeout=120,
               json={"model": "dynahate", "messages": [{"role": "user", "content": dev_posts[0]}]})
    log = server[1].read_text()
    assert not [post for post in dev_posts if post in log]


def test_api_key_protects_classify_and_chat(trained_run, tmp_path):
    proc, url = start_serve(trained_run, tmp_path / "log", env={**OFFLINE_ENV, "API_KEY": "sekret-key"})
    try:
        assert classify(url, ["a post"]).status_code == 401
        chat = {"model": "dynahate", "messages": [{"role": "user", "content": "a post"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=120).status_code == 401
        authorised = httpx.post(f"{url}/v1/classify", json={"texts": ["a post"]}, timeout=120,
                                headers={"Authorization": "Bearer sekret-key"})
        assert authorised.status_code == 200 and authorised.json()[0]["label"] in ("hate", "not hate")
    finally:
        stop_serve(proc)
