// The page of `dynahate collect serve` (GET /): write posts that try to fool the model in the loop, write their
// perturbations, validate other annotators' entries, and see one's entries and the round's figures, all through
// the collect API (/health, /api/...). Posts and server messages are inserted with textContent, never as HTML.
// The annotator's token lives in one variable of this script and nowhere else: it leaves the password field as
// soon as it is accepted, and is never put in the URL, in browser storage or in a cookie.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const HATE = "hate";
  const NOT_HATE = "not hate";
  const STATUS_HELP = {
    "pending": "waiting for validation",
    "verified": "validators agreed with its label",
    "rejected": "validators did not accept its label",
    "not queued": "not sent to validation: the model was right",
  };
  const FIGURES = [
    ["entries", "Entries", "count"],
    ["fooled", "Fooled", "count"],
    ["model_error_rate", "Error rate", "rate"],
    ["verified_model_error_rate", "Verified error rate", "rate"],
    ["waiting", "Waiting", "count"],
    ["verified", "Verified", "count"],
    ["rejected", "Rejected", "count"],
    ["agreement", "Agreement", "rate"],
  ];
  const state = { token: null, me: null, health: null, busy: false, original: null, tab: "write" };

  // -- small helpers -------------------------------------------------------------------------------
  function element(tag, text, className) {
    const el = document.createElement(tag);
    if (text !== undefined && text !== null) el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function number(value) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(3) : "?";
  }

  function percent(value) {
    return typeof value === "number" && isFinite(value) ? `${(value * 100).toFixed(1)}%` : "–";
  }

  function otherLabel(label) {
    return label === HATE ? NOT_HATE : HATE;
  }

  function plural(count, noun) {
    return `${count} ${noun}${count === 1 ? "" : "s"}`;
  }

  function labelClass(label) {
    return label === HATE ? "label hate" : "label not-hate";
  }

  // "hate (derogation; targets wom, bla)": what the writer meant, in one line
  function meant(entry) {
    const more = [];
    if (entry.type) more.push(entry.type);
    if (Array.isArray(entry.targets) && entry.targets.length) more.push(`targets ${entry.targets.join(", ")}`);
    return more.length ? `${entry.label} (${more.join("; ")})` : entry.label;
  }

  // -- talking to the API --------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, body, token) {
    const headers = {};
    const bearer = token === undefined ? state.token : token;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (problem) {
      throw new ApiError(0, `could not reach the server (${problem.message}): is dynahate collect serve still running?`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (response.ok && data !== null) return data;
    const message = data && typeof data.error === "string" ? data.error : (response.statusText || "no answer");
    throw new ApiError(response.status, message, response.headers.get("Retry-After"));
  }

  function describe(problem) {
    if (!(problem instanceof ApiError)) return String((problem && problem.message) || problem);
    if (problem.status === 0) return problem.message;
    return `the server answered ${problem.status}: ${problem.message}`;
  }

  function say(text) {
    $("error").textContent = "";
    $("status").textContent = text;
  }

  function showError(context, problem) {
    $("status").textContent = "";
    $("error").textContent = `${context}: ${describe(problem)}`;
    // a token revoked (or a server restarted on another database) while signed in: ask for one again
    if (problem instanceof ApiError && problem.status === 401 && state.token) signOut(false);
  }

  // Run one request at a time: a second press while one is on its way does nothing.
  async function busy(button, doing, work) {
    if (state.busy) return;
    state.busy = true;
    const text = button ? button.textContent : "";
    if (button) {
      button.setAttribute("aria-disabled", "true");
      button.textContent = doing;
    }
    try {
      await work();
    } finally {
      state.busy = false;
      if (button) {
        button.removeAttribute("aria-disabled");
        button.textContent = text;
      }
    }
  }

  // -- the server's facts --------------------------------------------------------------------------
  function fact(list, term, value) {
    list.append(element("dt", term), element("dd", value));
  }

  function showFacts(health) {
    const list = $("facts");
    list.replaceChildren();
    fact(list, "Round", String(health.round));
    fact(list, "Validation", `${plural(health.votes_needed, "matching vote")} settle an entry (an owner's alone); ` +
      (health.validate_all ? "every entry is validated" : "only entries that fooled the model are validated"));
    const hub = health.adapter_hub;
    fact(list, "Model in the loop", hub ? `${hub.repo_id} on the Hub` : String(health.adapter));
    const decision = health.decision_rule || {};
    let rule = `hate when p_hate ≥ ${number(typeof decision.threshold === "number" ? decision.threshold : 0.5)}`;
    if (decision.threshold_name) rule += ` (${decision.threshold_name}, chosen on dev)`;
    if (typeof decision.temperature === "number") rule += `; p_hate calibrated with temperature ${number(decision.temperature)}`;
    fact(list, "Decision rule", rule);
    const limits = health.limits || {};
    fact(list, "Limits", `${limits.max_text_chars} characters per post, ${limits.max_targets} targets, ` +
      `${limits.rate_per_minute} requests a minute`);
    fact(list, "Version", `dynahate ${health.version}`);
    $("round-line").textContent = `Round ${health.round}: write posts the model gets wrong, then perturb them.`;
  }

  function fillTypes(select, types) {
    select.replaceChildren(element("option", "Choose a type…"));
    select.firstChild.value = "";
    for (const type of types) {
      const option = element("option", type);
      option.value = type;
      select.append(option);
    }
  }

  async function loadHealth() {
    try {
      state.health = await api("GET", "health", undefined, null);
    } catch (problem) {
      showError("GET /health failed", problem);
      return;
    }
    showFacts(state.health);
    const types = Array.isArray(state.health.types) ? state.health.types : [];
    fillTypes($("w-type"), types);
    fillTypes($("p-type"), types);
    const max = state.health.limits && state.health.limits.max_targets;
    if (max) {
      for (const help of document.querySelectorAll(".targets-help")) {
        help.textContent = `Dynahate's target codes, comma-separated (such as wom, bla); at most ${max}.`;
      }
    }
  }

  // -- signing in and out --------------------------------------------------------------------------
  async function signIn() {
    const field = $("token");
    const token = field.value.trim();
    if (!token) {
      showError("Signing in failed", new Error("enter your token first"));
      field.focus();
      return;
    }
    await busy($("sign-in-button"), "Signing in…", async () => {
      let me;
      try {
        me = await api("GET", "api/me", undefined, token);
      } catch (problem) {
        showError("Signing in failed", problem);
        field.focus();
        return;
      }
      state.token = token;
      state.me = me;
      field.value = ""; // from now on the token is in `state` only
      $("who").textContent = `Signed in as ${me.name}${me.owner ? " (owner)" : ""}, round ${me.round}.`;
      $("mine-heading").textContent = me.owner ? "All entries (you are an owner)" : "My entries";
      $("sign-in").hidden = true;
      $("session").hidden = false;
      say(`Welcome, ${me.name}.`);
      showTab("write", false);
    });
  }

  function signOut(clearMessages) {
    state.token = null;
    state.me = null;
    state.original = null;
    resetWrite();
    $("queue").replaceChildren();
    $("entries").replaceChildren();
    $("figure-tables").replaceChildren();
    $("who").textContent = "";
    $("session").hidden = true;
    for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
    $("sign-in").hidden = false;
    if (clearMessages) say("Signed out: the page has forgotten your token.");
    $("token").focus();
  }

  // -- tabs ----------------------------------------------------------------------------------------
  function showTab(name, focus) {
    state.tab = name;
    for (const tab of document.querySelectorAll(".tab")) {
      const mine = tab.getAttribute("aria-controls") === name;
      $(tab.getAttribute("aria-controls")).hidden = !mine;
      if (mine) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
    if (name === "validate") loadQueue();
    else if (name === "mine") loadEntries();
    else if (name === "figures") loadFigures();
    else if (focus !== false) $("w-text").focus();
  }

  // -- writing -------------------------------------------------------------------------------------
  function chosenLabel(prefix) {
    const checked = document.querySelector(`input[name="${prefix}-label"]:checked`);
    return checked ? checked.value : null;
  }

  function chooseLabel(prefix, label) {
    for (const radio of document.querySelectorAll(`input[name="${prefix}-label"]`)) radio.checked = radio.value === label;
    $(`${prefix}-hate`).hidden = label !== HATE;
  }

  function entryBody(prefix) {
    const label = chosenLabel(prefix);
    const body = { text: $(`${prefix}-text`).value, label };
    if (label === HATE) {
      body.type = $(`${prefix}-type`).value || null;
      body.targets = $(`${prefix}-targets`).value.split(",").map((code) => code.trim()).filter((code) => code);
    }
    return body;
  }

  // The model's answer to an entry, as the API stored it.
  function showAnswer(box, entry, what) {
    box.replaceChildren();
    box.hidden = false;
    box.className = entry.model.wrong ? "answer fooled" : "answer held";
    box.append(element("p", entry.model.wrong ? "The model got it wrong" : "The model got it right", "verdict"));
    const list = element("dl");
    const row = (term, value, className) => {
      list.append(element("dt", term), element("dd", value, className));
    };
    row(what, `#${entry.id}`, "answer-id");
    row("You meant", meant(entry), "answer-label");
    const said = element("dd", undefined, "answer-model");
    said.append(element("strong", entry.model.label, labelClass(entry.model.label)));
    list.append(element("dt", "The model said"), said);
    row("p_hate", number(entry.model.p_hate), "answer-p-hate");
    const status = element("dd", undefined, "answer-status");
    status.append(element("span", entry.status, "status-word"), ` (${STATUS_HELP[entry.status] || "?"})`);
    list.append(element("dt", "Status"), status);
    box.append(list);
  }

  async function submitOriginal() {
    const body = entryBody("w");
    if (!body.label) {
      showError("Not sent", new Error("choose the label you mean: hate or not hate"));
      return;
    }
    await busy($("w-submit"), "The model is reading…", async () => {
      say("The model is reading your post…");
      let entry;
      try {
        entry = await api("POST", "api/entries", body);
      } catch (problem) {
        showError("Your post was not stored", problem);
        return;
      }
      state.original = entry;
      showAnswer($("w-answer"), entry, "Entry");
      say(`Entry #${entry.id} stored: ${entry.model.wrong ? "the model got it wrong" : "the model got it right"}. ` +
        "Now write its perturbation.");
      for (const id of ["w-text", "w-type", "w-targets"]) $(id).disabled = true;
      for (const radio of document.querySelectorAll('input[name="w-label"]')) radio.disabled = true;
      $("w-submit").hidden = true;
      // the perturbation starts from the same post, with the other label
      const label = otherLabel(entry.label);
      $("p-text").value = entry.text;
      chooseLabel("p", label);
      $("p-type").value = label === HATE && entry.type ? entry.type : "";
      $("p-targets").value = label === HATE ? (entry.targets || []).join(", ") : "";
      $("p-answer").hidden = true;
      $("p-submit").hidden = false;
      $("perturb").hidden = false;
      $("new-post").hidden = false;
      $("p-text").focus();
    });
  }

  async function submitPerturbation() {
    if (!state.original) return;
    const body = entryBody("p");
    if (!body.label) {
      showError("Not sent", new Error("choose the label of the perturbation"));
      return;
    }
    body.original_id = state.original.id;
    await busy($("p-submit"), "The model is reading…", async () => {
      say("The model is reading your perturbation…");
      let entry;
      try {
        entry = await api("POST", "api/entries", body);
      } catch (problem) {
        showError("Your perturbation was not stored", problem);
        return;
      }
      showAnswer($("p-answer"), entry, "Perturbation");
      say(`Perturbation #${entry.id} of entry #${state.original.id} stored: ` +
        `${entry.model.wrong ? "the model got it wrong" : "the model got it right"}.`);
      for (const id of ["p-text", "p-type", "p-targets"]) $(id).disabled = true;
      for (const radio of document.querySelectorAll('input[name="p-label"]')) radio.disabled = true;
      $("p-submit").hidden = true;
      $("new-post").focus();
    });
  }

  function resetWrite() {
    state.original = null;
    for (const id of ["w-text", "w-type", "w-targets", "p-text", "p-type", "p-targets"]) {
      $(id).disabled = false;
      $(id).value = "";
    }
    for (const radio of document.querySelectorAll('input[name$="-label"]')) radio.disabled = false;
    chooseLabel("w", null);
    chooseLabel("p", null);
    for (const id of ["w-answer", "p-answer", "perturb", "new-post"]) $(id).hidden = true;
    $("w-submit").hidden = false;
    $("p-submit").hidden = false;
  }

  // -- validating ----------------------------------------------------------------------------------
  function voteButton(text, className, action) {
    const button = element("button", text, className);
    button.type = "button";
    button.addEventListener("click", () => busy(button, "Sending…", action));
    return button;
  }

  function queueItem(entry) {
    const li = element("li", undefined, "card queue-item");
    li.dataset.entryId = String(entry.id);
    const head = element("div", undefined, "card-head");
    head.append(element("span", `Entry #${entry.id}${entry.is_perturbation ? " (a perturbation)" : ""}`, "line"),
      element("strong", entry.label, labelClass(entry.label)));
    li.append(head);
    const details = [];
    if (entry.type) details.push(`type ${entry.type}`);
    if (Array.isArray(entry.targets) && entry.targets.length) details.push(`targets ${entry.targets.join(", ")}`);
    if (details.length) li.append(element("p", details.join("; "), "line details"));
    li.append(element("p", entry.text, "post"));
    const reasonId = `reason-${entry.id}`;
    const reasonLabel = element("label", "Reason to flag it", "small-label");
    reasonLabel.htmlFor = reasonId;
    const reason = element("input", undefined, "reason");
    reason.id = reasonId;
    reason.type = "text";
    reason.maxLength = 500;
    reason.autocomplete = "off";
    const actions = element("div", undefined, "actions");
    const other = otherLabel(entry.label);
    actions.append(
      voteButton(`Correct: it is ${entry.label}`, "vote-correct", () => vote(entry, { verdict: "correct" })),
      voteButton(`Incorrect: it is ${other}`, "vote-incorrect secondary",
        () => vote(entry, { verdict: "incorrect", corrected_label: other })),
      voteButton("Flag", "vote-flag secondary", () => vote(entry, { verdict: "flagged", reason: reason.value })));
    const flag = element("div", undefined, "field flag");
    flag.append(reasonLabel, reason);
    li.append(actions, flag);
    return li;
  }

  async function loadQueue() {
    let data;
    try {
      data = await api("GET", "api/queue?limit=20");
    } catch (problem) {
      showError("The queue could not be loaded", problem);
      return;
    }
    const list = $("queue");
    list.replaceChildren(...data.entries.map(queueItem));
    if (!data.entries.length) list.append(element("li", "Nothing to validate now: every entry waiting is yours " +
      "or has your vote. Come back later or press Refresh.", "empty"));
  }

  async function vote(entry, body) {
    let result;
    try {
      result = await api("POST", `api/entries/${encodeURIComponent(entry.id)}/votes`, body);
    } catch (problem) {
      showError(`Your vote on entry #${entry.id} was not counted`, problem);
      // settled or voted on meanwhile (409), or gone (404): the queue on screen is stale
      if (state.token && (problem.status === 409 || problem.status === 404)) await loadQueue();
      return;
    }
    const relabelled = result.corrected_label ? `, relabelled ${result.corrected_label}` : "";
    say(`Entry #${result.entry_id}: your vote (${body.verdict}) is counted. Its status is now ${result.status}` +
      `${relabelled} (${plural(result.votes, "vote")}).`);
    await loadQueue();
  }

  // -- my entries ----------------------------------------------------------------------------------
  function entryItem(entry) {
    const li = element("li", undefined, "card entry");
    li.dataset.entryId = String(entry.id);
    const head = element("div", undefined, "card-head");
    let title = `Entry #${entry.id}, round ${entry.round}`;
    if (entry.original_id !== null && entry.original_id !== undefined) title += `, perturbation of #${entry.original_id}`;
    else if (entry.perturbation_id !== null && entry.perturbation_id !== undefined) title += `, perturbed in #${entry.perturbation_id}`;
    if (entry.annotator) title += `, by ${entry.annotator}`;
    const status = element("span", entry.status, `status status-${entry.status.replace(/\W+/g, "-")}`);
    status.title = STATUS_HELP[entry.status] || "";
    head.append(element("span", title, "line"), status);
    li.append(head, element("p", entry.text, "post"));
    const facts = element("dl", undefined, "entry-facts");
    const row = (term, value, className) => {
      facts.append(element("dt", term), element("dd", value, className));
    };
    row("Label", meant(entry), "entry-label");
    row("Model", `${entry.model.label}, p_hate ${number(entry.model.p_hate)}: ` +
      (entry.model.wrong ? "the model got it wrong" : "the model got it right"), "entry-model");
    let settled = `${entry.status} (${STATUS_HELP[entry.status] || "?"})`;
    if (entry.corrected_label) settled += `; validators say ${entry.corrected_label}`;
    row("Status", settled, "entry-status");
    li.append(facts);
    return li;
  }

  async function loadEntries() {
    let data;
    try {
      data = await api("GET", "api/entries?limit=100");
    } catch (problem) {
      showError("Your entries could not be loaded", problem);
      return;
    }
    const list = $("entries");
    list.replaceChildren(...data.entries.map(entryItem));
    if (!data.entries.length) list.append(element("li", "No entries yet: write one in Write.", "empty"));
  }

  // -- figures -------------------------------------------------------------------------------------
  function figureRow(name, values, className) {
    const tr = element("tr", undefined, className);
    tr.append(element("th", name));
    tr.firstChild.scope = "row";
    for (const [key, , kind] of FIGURES) {
      const td = element("td", kind === "rate" ? percent(values[key]) : String(values[key] ?? "–"));
      td.dataset.field = key;
      tr.append(td);
    }
    return tr;
  }

  function figureTable(round) {
    const box = element("div", undefined, "round-figures");
    box.append(element("h3", `Round ${round.round}`),
      element("p", `${plural(round.votes_needed, "matching vote")} settle an entry; ` +
        (round.validate_all ? "every entry is validated." : "entries that fooled the model are validated."), "help"));
    const wrap = element("div", undefined, "table-wrap");
    wrap.tabIndex = 0; // scrollable by keyboard when narrower than the table
    const table = element("table", undefined, "figures");
    table.dataset.round = String(round.round);
    table.setAttribute("aria-label", `Figures of round ${round.round}`);
    const head = element("tr");
    head.append(element("th", ""));
    for (const [, title] of FIGURES) head.append(element("th", title));
    for (const th of head.children) th.scope = "col";
    const thead = element("thead");
    thead.append(head);
    const tbody = element("tbody");
    tbody.append(figureRow("Round total", round, "total"));
    for (const [name, values] of Object.entries(round.annotators || {})) {
      const tr = figureRow(name, values, "annotator");
      tr.dataset.annotator = name;
      tbody.append(tr);
    }
    table.append(thead, tbody);
    wrap.append(table);
    box.append(wrap);
    return box;
  }

  async function loadFigures() {
    let data;
    try {
      data = await api("GET", "api/stats");
    } catch (problem) {
      showError("The figures could not be loaded", problem);
      return;
    }
    const box = $("figure-tables");
    box.replaceChildren(...data.rounds.map(figureTable));
    if (!data.rounds.length) box.append(element("p", "No rounds yet.", "empty"));
  }

  // -- wiring --------------------------------------------------------------------------------------
  function onCtrlEnter(id, action) {
    $(id).addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        action();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-button").addEventListener("click", signIn);
    $("token").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        signIn();
      }
    });
    $("sign-out").addEventListener("click", () => signOut(true));
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => showTab(tab.getAttribute("aria-controls")));
    }
    for (const prefix of ["w", "p"]) {
      for (const radio of document.querySelectorAll(`input[name="${prefix}-label"]`)) {
        radio.addEventListener("change", () => {
          $(`${prefix}-hate`).hidden = chosenLabel(prefix) !== HATE;
        });
      }
    }
    $("w-submit").addEventListener("click", submitOriginal);
    $("p-submit").addEventListener("click", submitPerturbation);
    onCtrlEnter("w-text", submitOriginal);
    onCtrlEnter("p-text", submitPerturbation);
    $("new-post").addEventListener("click", () => {
      resetWrite();
      say("");
      $("w-text").focus();
    });
    $("refresh-queue").addEventListener("click", () => busy($("refresh-queue"), "Refreshing…", loadQueue));
    $("refresh-mine").addEventListener("click", () => busy($("refresh-mine"), "Refreshing…", loadEntries));
    $("refresh-figures").addEventListener("click", () => busy($("refresh-figures"), "Refreshing…", loadFigures));
    loadHealth();
    $("token").focus();
  });
})();
