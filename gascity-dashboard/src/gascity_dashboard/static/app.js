// The Gas City dashboard: plain JS over the /v0 API, no build step.
// Every value from the city is set with textContent, never parsed as HTML.
"use strict";

const FEED_MAX = 200;
const REFRESH_MS = 3000;
const state = { lastSeq: 0, selected: null, token: "", readOnly: true, refreshTimer: null };

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text) { $("message").textContent = text; }

async function getJSON(path) {
  const resp = await fetch(path, { cache: "no-store" });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.json();
}

async function mutate(path, body = {}) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": `Bearer ${state.token}` },
    body: JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  say(resp.ok ? `${path}: ok` : `${path}: ${data.message || resp.status}`);
  refresh();
  return resp.ok;
}

// ------------------------------------------------------------------ agents

function renderStatus(status) {
  $("city-name").textContent = status.name;
  document.title = `Gas City: ${status.name}`;
  const summary = $("summary");
  summary.replaceChildren(
    el("span", {}, `${status.running} sessions running`),
    el("span", {}, `${status.agents.total} agents`),
    el("span", {}, `tick ${status.tick.number}`),
    el("span", { class: status.ready ? "state-running" : "state-starting" },
       status.ready ? "ready" : "not ready"),
  );
  if (status.suspended) summary.append(el("span", { class: "state-suspended" }, "city suspended"));
}

function renderAgents(agents) {
  const body = $("agents").tBodies[0];
  const canMutate = Boolean(state.token) && !state.readOnly;
  body.replaceChildren(...agents.map((a) => {
    const sessions = el("td", { class: "sessions" }, ...a.sessions.map((s) =>
      el("span", {
        class: `session state-${s.state}` + (s.name === state.selected ? " selected" : ""),
        title: s.state, "data-session": s.name, onclick: () => select(s.name),
      }, s.name)));
    const action = a.suspended ? "resume" : "suspend";
    const button = el("button", {
      type: "button", onclick: () => mutate(`/v0/agent/${encodeURIComponent(a.name)}/${action}`),
    }, action);
    button.disabled = !canMutate;
    return el("tr", { "data-agent": a.name },
      el("td", {}, a.name),
      el("td", {}, a.pool ? `pool ${a.min ?? 0}..${a.max ?? "∞"}` : "agent"),
      el("td", { class: "desired" }, a.desired),
      el("td", { class: "running" }, a.running_sessions),
      el("td", { class: `state state-${a.state}` }, a.state),
      el("td", { class: "reasons" }, a.reasons.join("; ")),
      sessions,
      el("td", {}, button));
  }));
}

async function refresh() {
  try {
    const [status, agents] = await Promise.all([getJSON("/v0/status"), getJSON("/v0/agents")]);
    renderStatus(status);
    renderAgents(agents.items);
    if (state.selected) await peek();
  } catch (err) {
    say(`refresh failed: ${err.message}`);
  }
}

function scheduleRefresh(delay = 150) {
  // Many events arrive in a burst at a tick; refresh once for all of them.
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, delay);
}

// -------------------------------------------------------------------- peek

async function select(name) {
  state.selected = name;
  $("peek-name").textContent = name;
  updateButtons();
  await peek();
  scheduleRefresh(0);
}

async function peek() {
  const name = state.selected;
  if (!name) return;
  try {
    const data = await getJSON(`/v0/session/${encodeURIComponent(name)}/peek?lines=60`);
    if (state.selected === name) $("peek").textContent = data.output;
  } catch (err) {
    $("peek").textContent = `(${err.message})`;
  }
}

// -------------------------------------------------------------------- feed

function addEvent(ev, fresh) {
  if (ev.seq <= state.lastSeq) return;
  state.lastSeq = ev.seq;
  const time = (ev.ts || "").slice(11, 19);
  const item = el("li", { class: fresh ? "new" : "", "data-seq": ev.seq, "data-type": ev.type },
    el("span", { class: "seq" }, `#${ev.seq} ${time}`),
    el("span", { class: "type" }, ev.type),
    el("span", { class: "subject" },
       ev.subject && !(ev.message || "").startsWith(ev.subject) ? `${ev.subject}: ` : ""),
    el("span", { class: "text" }, ev.message || ""));
  const feed = $("feed");
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

async function follow() {
  // fetch + a stream reader rather than EventSource: events are named by their
  // type, which EventSource can only listen to one name at a time.
  for (;;) {
    try {
      const resp = await fetch(`/v0/events/stream?after_seq=${state.lastSeq}`);
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      $("feed-state").textContent = "live";
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          const ev = JSON.parse(data);
          addEvent(ev, true);
          if (/^(session|pool|config|agent)\./.test(ev.type)) scheduleRefresh();
        }
      }
    } catch (err) {
      say(`event stream: ${err.message}; reconnecting`);
    }
    $("feed-state").textContent = "reconnecting...";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ------------------------------------------------------------------ tokens

function updateButtons() {
  const canMutate = Boolean(state.token) && !state.readOnly;
  $("reload").disabled = !canMutate;
  $("nudge").disabled = !canMutate || !state.selected;
  $("kill").disabled = !canMutate || !state.selected;
  $("nudge-text").disabled = !canMutate || !state.selected;
  const mode = $("mode");
  mode.textContent = state.readOnly ? "read-only" : (state.token ? "token set" : "no token");
  mode.className = "badge" + (canMutate ? " rw" : "");
  for (const b of document.querySelectorAll("#agents button")) b.disabled = !canMutate;
}

function setToken(token) {
  state.token = token.trim();
  if (state.token) sessionStorage.setItem("gc-token", state.token);
  else sessionStorage.removeItem("gc-token");
  updateButtons();
}

async function init() {
  // A `#token=...` fragment never reaches the server (nor its logs).
  const tokenFromHash = () => {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (token) history.replaceState(null, "", location.pathname);
    return token;
  };
  setToken(tokenFromHash() || sessionStorage.getItem("gc-token") || "");
  $("token").value = state.token;
  window.addEventListener("hashchange", () => {
    const token = tokenFromHash();
    if (token) { setToken(token); $("token").value = token; }
  });
  $("token").addEventListener("change", (e) => setToken(e.target.value));
  $("reload").addEventListener("click", () => mutate("/v0/reload"));
  $("kill").addEventListener("click", () =>
    mutate(`/v0/session/${encodeURIComponent(state.selected)}/kill`));
  $("nudge").addEventListener("click", async () => {
    const text = $("nudge-text").value;
    if (await mutate(`/v0/session/${encodeURIComponent(state.selected)}/nudge`, { text })) {
      $("nudge-text").value = "";
    }
  });
  try {
    const info = await getJSON("/v0/api");
    state.readOnly = info.read_only;
  } catch (err) {
    say(err.message);
  }
  updateButtons();
  try {
    const recent = await getJSON("/v0/events?newest=1&limit=50");
    for (const ev of recent.items) addEvent(ev, false);
  } catch (err) {
    say(`events: ${err.message}`);
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
  follow();
}

init();
