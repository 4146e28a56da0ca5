// The page of `dynahate serve` (GET /): classify pasted posts with POST /v1/classify, show GET /health.
// Posts and server messages are inserted with textContent, never as HTML. The API key lives in the
// password field and in no other place: not in the URL, not in browser storage, not in a cookie.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { health: null, keyRequired: false, busy: false };

  function element(tag, text, className) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function number(value) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(3) : "?";
  }

  // The threshold on the scale of the reported p_hate: with --calibrated, p_hate is calibrated with
  // temperature T but the threshold applies to the uncalibrated p_hate; calibration keeps the order.
  function displayedThreshold(threshold, temperature) {
    if (typeof temperature !== "number" || threshold <= 0 || threshold >= 1) return threshold;
    const z = Math.log(threshold / (1 - threshold)) / temperature;
    return 1 / (1 + Math.exp(-z));
  }

  function rule() {
    const decision = (state.health && state.health.decision_rule) || {};
    return {
      threshold: typeof decision.threshold === "number" ? decision.threshold : 0.5,
      threshold_name: decision.threshold_name || null,
      temperature: typeof decision.temperature === "number" ? decision.temperature : null,
    };
  }

  function showKeyField(focus) {
    state.keyRequired = true;
    $("key-row").hidden = false;
    if (focus) $("api-key").focus();
  }

  // -- the server's facts ------------------------------------------------------------------------
  function fact(list, term, value) {
    list.append(element("dt", term), element("dd", value));
  }

  function showFacts(health) {
    const list = $("facts");
    list.replaceChildren();
    const hub = health.adapter_hub;
    if (hub) {
      fact(list, "Adapter", `${hub.repo_id} on the Hub`);
      if (hub.revision) fact(list, "Hub revision", hub.revision);
      if (hub.commit) fact(list, "Hub commit", hub.commit);
    } else {
      fact(list, "Adapter", String(health.adapter));
    }
    fact(list, "Base model", `${health.base_model}${health.quantized ? " (4-bit)" : ""} on ${health.device}`);
    const classify = health.classify || {};
    fact(list, "Mode", classify.mode === "score" ? "score: each label's likelihood, p_hate from the two" : "score");
    if (classify.token_budget) {
      fact(list, "Token budget", `${classify.token_budget} padded tokens per batch (${classify.token_budget_source})`);
    }
    const r = rule();
    let decision = `hate when p_hate ≥ ${number(r.threshold)}`;
    if (r.threshold_name) decision += ` (${r.threshold_name}, chosen on dev)`;
    if (r.temperature !== null) {
      decision += `; p_hate calibrated with temperature ${number(r.temperature)}, the threshold applies before calibration`;
    }
    fact(list, "Decision rule", decision);
    const limits = health.limits || {};
    fact(list, "Limits", `${limits.max_texts} posts per request, ${limits.max_text_chars} characters per post, ` +
      `${limits.cutoff_len}-token prompts`);
    fact(list, "API key", health.api_key_required ? "required" : "not required");
    fact(list, "Version", `dynahate ${health.version}`);
  }

  async function loadHealth() {
    try {
      const response = await fetch("health", { cache: "no-store" });
      if (!response.ok) throw new Error(`status ${response.status}`);
      state.health = await response.json();
      showFacts(state.health);
      if (state.health.api_key_required) showKeyField(false);
    } catch (problem) {
      $("facts").replaceChildren(element("dt", "Server"), element("dd", `GET /health failed (${problem.message})`));
    }
  }

  // -- errors --------------------------------------------------------------------------------------
  // The API names a post as texts[i]; the page names the line of the text area it came from.
  function namingLines(message, lines) {
    const first = /^texts\[(\d+)\]\s+/.exec(message);
    if (first && lines[Number(first[1])] !== undefined) {
      return `Line ${lines[Number(first[1])]}: the post ${message.slice(first[0].length)}`;
    }
    return message.replace(/texts\[(\d+)\]/g, (whole, i) => (lines[Number(i)] !== undefined ? `line ${lines[Number(i)]}` : whole));
  }

  function errorMessage(status, message, lines, retryAfter, sentKey) {
    const said = namingLines(message, lines);
    switch (status) {
      case 401:
        return sentKey ? "The API key was not accepted (401). Check it and press Classify again."
          : "This server needs an API key (401). Enter it in the API key field and press Classify again.";
      case 408:
        return `The request did not reach the server in time (408): ${said}. Try again.`;
      case 413:
        return `Too long (413). ${said}`;
      case 422:
        return `Not accepted (422). ${said}`;
      case 429:
        return `The server is busy (429): try again in ${retryAfter || "a few"} seconds.`;
      case 503:
        return `The server did not answer in time (503): try again shortly. ${said}`;
      default:
        return `The server answered ${status}: ${said}`;
    }
  }

  // An error replaces the results: those on screen answered an earlier request, not the posts now in the
  // text area, and must not be read as this request's.
  function showError(text) {
    $("error").textContent = text;
    $("status").textContent = "";
    $("results").replaceChildren();
  }

  // -- results -------------------------------------------------------------------------------------
  function showResults(items, posts, lines) {
    const list = $("results");
    list.replaceChildren();
    const r = rule();
    let hate = 0;
    items.forEach((item, i) => {
      const threshold = typeof item.threshold === "number" ? item.threshold : r.threshold;
      const name = item.threshold_name || (typeof item.threshold === "number" ? null : r.threshold_name);
      const temperature = typeof item.temperature === "number" ? item.temperature : r.temperature;
      if (item.label === "hate") hate += 1;
      const li = element("li", undefined, "result");
      const head = element("div", undefined, "result-head");
      head.append(element("span", `Line ${lines[i]}`, "line"),
        element("strong", item.label, item.label === "hate" ? "label hate" : "label not-hate"));
      const post = element("p", posts[i], "post");
      const bar = element("meter");
      bar.min = 0;
      bar.max = 1;
      bar.value = item.p_hate;
      bar.optimum = 0;
      bar.low = bar.high = displayedThreshold(threshold, temperature);
      bar.setAttribute("aria-label", `p_hate of line ${lines[i]}`);
      const score = element("div", undefined, "score");
      score.append(bar, element("span", `p_hate ${number(item.p_hate)}`, "p-hate"),
        element("span", `threshold ${number(threshold)}${name ? ` (${name})` : ""}`, "threshold"));
      li.append(head, post, score);
      list.append(li);
    });
    const noun = items.length === 1 ? "post" : "posts";
    $("status").textContent = `Classified ${items.length} ${noun}: ${hate} hate, ${items.length - hate} not hate.`;
  }

  // -- classify ------------------------------------------------------------------------------------
  async function classify() {
    if (state.busy) return;
    const posts = [];
    const lines = []; // lines[i]: the text area's line (from 1) of posts[i]
    $("posts").value.split(/\r\n|\r|\n/).forEach((line, i) => {
      if (line.trim() !== "") {
        posts.push(line);
        lines.push(i + 1);
      }
    });
    $("error").textContent = "";
    if (posts.length === 0) {
      showError("Paste at least one post, one per line.");
      $("posts").focus();
      return;
    }
    const key = $("api-key").value;
    const headers = { "Content-Type": "application/json" };
    if (key) headers.Authorization = `Bearer ${key}`;
    state.busy = true;
    $("classify").setAttribute("aria-disabled", "true");
    $("classify").textContent = "Classifying…";
    $("status").textContent = `Classifying ${posts.length} ${posts.length === 1 ? "post" : "posts"}…`;
    try {
      let response;
      try {
        response = await fetch("v1/classify", { method: "POST", headers, body: JSON.stringify({ texts: posts }),
          cache: "no-store", credentials: "omit" });
      } catch (problem) {
        showError(`Could not reach the server (${problem.message}): is dynahate serve still running?`);
        return;
      }
      let body = null;
      try {
        body = await response.json();
      } catch (ignored) {
        body = null;
      }
      if (response.ok && Array.isArray(body)) {
        showResults(body, posts, lines);
        return;
      }
      const message = body && typeof body.error === "string" ? body.error : response.statusText;
      if (response.status === 401) showKeyField(true);
      showError(errorMessage(response.status, message, lines, response.headers.get("Retry-After"), Boolean(key)));
    } finally {
      state.busy = false;
      $("classify").removeAttribute("aria-disabled");
      $("classify").textContent = "Classify";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("classify").addEventListener("click", classify);
    $("api-key").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        classify();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        classify();
      }
    });
    loadHealth();
  });
})();
