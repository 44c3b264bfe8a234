// Keel's console: every page rendered in the browser from Temporal's HTTP API on this listener
// (/api/v1/...) and Keel's own /api/keel/{settings,cluster}. No framework: `h` builds DOM
// nodes, and every string from the server goes in as text (textContent, attributes), never
// as HTML. The page is chosen from the URL, whose routes follow the Temporal UI's.
"use strict";

const PAGE_SIZE = 100;
const HISTORY_PAGE = 200;
let settings = { readOnly: true };

// ---- DOM and formatting helpers ----

function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const main = () => document.getElementById("main");

function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes.flat());
}

function ready() {
  document.body.dataset.ready = "1";
  window.keelRenderedAt = performance.now();
}

// The one live-refresh timer of the page shown (a new page replaces it).
let refreshTimer = null;
function every(ms, fn) {
  clearInterval(refreshTimer);
  // Not while the sign-in form is up: a refresh would replace it while it is typed in.
  refreshTimer = setInterval(() => {
    if (!document.hidden && !document.getElementById("sign-in")) fn();
  }, ms);
}

function enc(s) {
  return encodeURIComponent(s);
}

function statusName(s) {
  if (!s) return "Unknown";
  const raw = String(s).replace(/^WORKFLOW_EXECUTION_STATUS_/, "");
  return raw.split("_").map((w) => w[0] + w.slice(1).toLowerCase()).join("")
    .replace("Timedout", "TimedOut").replace("Continuedasnew", "ContinuedAsNew");
}

function badge(name) {
  return h("span", { class: `status s-${name}` }, name);
}

function timeMode() {
  return localStorage.getItem("keel.times") || "relative";
}

function relative(date) {
  const secs = Math.round((date.getTime() - Date.now()) / 1000);
  const abs = Math.abs(secs);
  const [n, unit] = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.round(abs / 60), "m"]
    : abs < 86400 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return secs <= 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

function when(ts) {
  if (!ts) return h("span", { class: "muted" }, "—");
  const d = new Date(ts);
  if (isNaN(d)) return String(ts);
  const absolute = d.toLocaleString();
  const text = timeMode() === "relative" ? relative(d) : absolute;
  return h("time", { datetime: ts, title: timeMode() === "relative" ? absolute : relative(d) }, text);
}

function duration(a, b) {
  if (!a || !b) return "";
  const ms = new Date(b) - new Date(a);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} m ${Math.round((ms % 60000) / 1000)} s`;
}

// A payload as the HTTP API gives it: JSON values (shorthand) shown as JSON; a proto-form
// payload ({metadata, data}) labelled with its encoding.
function isProtoPayload(v) {
  return v && typeof v === "object" && !Array.isArray(v) && v.metadata && typeof v.metadata === "object"
    && typeof v.metadata.encoding === "string" && Object.keys(v).every((k) => k === "metadata" || k === "data");
}

function payloadView(v) {
  if (v === undefined) return h("span", { class: "muted" }, "—");
  const one = (p) => {
    if (isProtoPayload(p)) {
      let encoding = p.metadata.encoding;
      try { encoding = atob(encoding); } catch (_) { /* leave as given */ }
      const size = p.data ? Math.floor((p.data.length * 3) / 4) : 0;
      if (encoding === "binary/null") return h("pre", {}, "null");
      return h("div", {}, h("span", { class: "label" }, `${encoding} · ${size} bytes`), h("pre", {}, p.data || ""));
    }
    return h("pre", {}, JSON.stringify(p, null, 2));
  };
  return Array.isArray(v) ? h("div", {}, v.map(one)) : one(v);
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

// The token a person signed in with (authorization on): this tab's only, never stored longer.
const TOKEN_KEY = "keel-token";

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: {} };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) init.headers["Authorization"] = `Bearer ${token}`;
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body || {};
}

function nsPath(ns) {
  return `/api/v1/namespaces/${enc(ns)}`;
}

function uuid() {
  return (crypto.randomUUID && crypto.randomUUID()) ||
    "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => ((Math.random() * 16) | 0).toString(16));
}

function errorBox(e) {
  if (e instanceof ApiError && e.status === 403 && e.message === "Request unauthorized.") {
    return signIn(sessionStorage.getItem(TOKEN_KEY) !== null);
  }
  return h("div", { class: "panel error", role: "alert" }, e.message || String(e));
}

// Asks for an API key or JWT when the server wants credentials; the page reloads with it.
function signIn(refused) {
  const input = h("input", { type: "password", id: "token", placeholder: "API key or JWT", autocomplete: "off" });
  const form = h("form", { class: "panel sign-in", id: "sign-in" },
    h("h2", {}, "Sign in"),
    h("p", { class: refused ? "error" : "muted" }, refused
      ? "This token is not allowed to see this page."
      : "This Keel checks credentials: give an API key or a JWT."),
    input,
    h("button", { type: "submit" }, "Use token"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    location.reload();
  });
  return form;
}

// ---- navigation bar ----

async function nav(ns, active) {
  const bar = document.getElementById("nav");
  const links = ns ? [
    ["workflows", `/namespaces/${enc(ns)}/workflows`, "Workflows"],
    ["schedules", `/namespaces/${enc(ns)}/schedules`, "Schedules"],
    ["batch", `/namespaces/${enc(ns)}/batch-operations`, "Batch operations"],
  ] : [];
  links.push(["namespaces", "/namespaces", "Namespaces"], ["cluster", "/cluster", "Cluster"]);
  const select = h("select", {
    "aria-label": "namespace",
    onchange: (e) => { location.href = `/namespaces/${enc(e.target.value)}/workflows`; },
  });
  bar.replaceChildren(...(ns ? [select] : []), ...links.map(([key, href, text]) =>
    h("a", { href, class: key === active ? "active" : "" }, text)));
  document.getElementById("mode").textContent = settings.readOnly ? "read-only" : "";
  if (ns) {
    try {
      const list = await api("/api/v1/namespaces?pageSize=100");
      const names = (list.namespaces || []).map((n) => n.namespaceInfo.name);
      if (!names.includes(ns)) names.push(ns);
      for (const n of names) select.append(h("option", { value: n, selected: n === ns }, n));
    } catch (_) {
      select.append(h("option", { value: ns, selected: true }, ns));
    }
  }
}

function confirmDialog(title, fields, action) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-body").replaceChildren(...fields);
  const error = document.getElementById("confirm-error");
  error.textContent = "";
  const form = document.getElementById("confirm-form");
  const ok = document.getElementById("confirm-ok");
  form.onsubmit = async (e) => {
    e.preventDefault();
    ok.disabled = true;
    try {
      await action();
      dialog.close();
      route();
    } catch (err) {
      error.textContent = err.message || String(err);
    } finally {
      ok.disabled = false;
    }
  };
  document.getElementById("confirm-cancel").onclick = () => dialog.close();
  dialog.showModal();
}

// ---- pages ----

async function namespacesPage() {
  await nav(null, "namespaces");
  const list = await api("/api/v1/namespaces?pageSize=100");
  const rows = (list.namespaces || []).map((n) => h("tr", {},
    h("td", { class: "id" }, h("a", { href: `/namespaces/${enc(n.namespaceInfo.name)}/workflows` }, n.namespaceInfo.name)),
    h("td", {}, n.namespaceInfo.description || ""),
    h("td", {}, (n.config && n.config.workflowExecutionRetentionTtl) || ""),
  ));
  show(h("h1", {}, "Namespaces"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Description"), h("th", {}, "Retention"))),
      h("tbody", {}, rows)));
  ready();
}

const STATUSES = ["Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut", "ContinuedAsNew"];

async function workflowsPage(ns) {
  await nav(ns, "workflows");
  const params = new URLSearchParams(location.search);
  const query = params.get("query") || "";
  const input = h("input", { type: "text", name: "query", value: query, placeholder: 'Visibility query, e.g. WorkflowType = "Greet" AND ExecutionStatus = "Running"', "aria-label": "query" });
  const live = h("input", { type: "checkbox", checked: localStorage.getItem("keel.live") !== "off", id: "live" });
  const timesToggle = h("button", { class: "secondary", type: "button", onclick: () => {
    localStorage.setItem("keel.times", timeMode() === "relative" ? "absolute" : "relative");
    render();
  } }, "Times: ", timeMode());
  const form = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    const q = input.value.trim();
    location.href = `/namespaces/${enc(ns)}/workflows` + (q ? `?query=${enc(q)}` : "");
  } }, input, h("button", { type: "submit" }, "Search"),
  h("label", { class: "small" }, live, " Live"), timesToggle);
  const chips = h("div", { class: "chips", id: "counts" });
  const body = h("div", { id: "list" });
  const tokens = [""]; // page tokens: tokens[i] opens page i
  let page = 0;
  show(h("h1", {}, "Workflows"), form, chips, body);

  function chipFor(label, count, q) {
    return h("a", { class: "chip", href: `/namespaces/${enc(ns)}/workflows` + (q ? `?query=${enc(q)}` : "") },
      label === "All" ? "All" : badge(label), " ", h("b", {}, count));
  }

  async function counts() {
    try {
      const where = query ? `(${query}) ` : "";
      const c = await api(`${nsPath(ns)}/workflow-count?query=${enc(where + "GROUP BY ExecutionStatus")}`);
      const byStatus = {};
      for (const g of c.groups || []) {
        let v = g.groupValues && g.groupValues[0];
        if (isProtoPayload(v)) { try { v = JSON.parse(atob(v.data)); } catch (_) { v = "?"; } }
        byStatus[v] = g.count;
      }
      chips.replaceChildren(chipFor("All", c.count || "0", ""),
        ...STATUSES.filter((s) => byStatus[s]).map((s) => chipFor(s, byStatus[s], `ExecutionStatus = "${s}"`)));
    } catch (e) {
      chips.replaceChildren();
    }
  }

  async function render() {
    let list;
    try {
      const token = tokens[page] ? `&nextPageToken=${enc(tokens[page])}` : "";
      list = await api(`${nsPath(ns)}/workflows?pageSize=${PAGE_SIZE}&query=${enc(query)}${token}`);
    } catch (e) {
      body.replaceChildren(errorBox(e));
      return;
    }
    timesToggle.replaceChildren("Times: ", timeMode());
    const executions = list.executions || [];
    if (tokens.length === page + 1 && list.nextPageToken) tokens.push(list.nextPageToken);
    if (!executions.length) {
      body.replaceChildren(h("div", { class: "empty" }, query
        ? "No workflow matches this query."
        : "No workflows yet. Start one with an SDK or `temporal workflow start --address <this node's client port> ...`."));
      return;
    }
    const rows = executions.map((x) => {
      const s = statusName(x.status);
      const href = `/namespaces/${enc(ns)}/workflows/${enc(x.execution.workflowId)}/${enc(x.execution.runId)}`;
      return h("tr", {},
        h("td", {}, badge(s)),
        h("td", { class: "id" }, h("a", { href, class: "clamp", title: x.execution.workflowId }, x.execution.workflowId)),
        h("td", { class: "id" }, x.execution.runId),
        h("td", { class: "wrap" }, (x.type && x.type.name) || ""),
        h("td", {}, when(x.startTime)),
        h("td", {}, when(x.closeTime)));
    });
    body.replaceChildren(
      h("table", { id: "workflows" },
        h("colgroup", {}, h("col", { style: "width:120px" }), h("col"), h("col", { style: "width:300px" }),
          h("col", { style: "width:18%" }), h("col", { style: "width:130px" }), h("col", { style: "width:130px" })),
        h("thead", {}, h("tr", {}, ["Status", "Workflow ID", "Run ID", "Type", "Start", "End"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)),
      h("div", { class: "pager" },
        h("button", { class: "secondary", disabled: page === 0, onclick: () => { page--; render(); } }, "← Previous"),
        h("span", { class: "muted small" }, `Page ${page + 1}`),
        h("button", { class: "secondary", disabled: !tokens[page + 1], onclick: () => { page++; render(); } }, "Next →")));
  }

  await Promise.all([counts(), render()]);
  ready();
  every(5000, () => {
    localStorage.setItem("keel.live", live.checked ? "on" : "off");
    if (live.checked) { counts(); render(); }
  });
}

// The events' attributes: the one field of an event whose name ends in EventAttributes.
function attributesOf(event) {
  const key = Object.keys(event).find((k) => k.endsWith("EventAttributes"));
  return key ? event[key] : {};
}

function eventName(event) {
  return String(event.eventType || "").replace(/^EVENT_TYPE_/, "").split("_")
    .map((w) => w[0] + w.slice(1).toLowerCase()).join("");
}

function eventSummary(event) {
  const a = attributesOf(event);
  const bits = [];
  if (a.activityType) bits.push(a.activityType.name);
  if (a.workflowType) bits.push(a.workflowType.name);
  if (a.signalName) bits.push(a.signalName);
  if (a.timerId) bits.push(`timer ${a.timerId}`);
  if (a.startToFireTimeout) bits.push(a.startToFireTimeout);
  if (a.identity) bits.push(a.identity);
  if (a.failure && a.failure.message) bits.push(a.failure.message);
  if (a.reason) bits.push(a.reason);
  if (a.scheduledEventId) bits.push(`scheduled #${a.scheduledEventId}`);
  if (a.initiatedEventId) bits.push(`initiated #${a.initiatedEventId}`);
  return bits.join(" · ");
}

// Spans for the timeline: activities, timers and children from their first event to their
// last; signals as points; the workflow as the top row.
function timelineSpans(events) {
  const byId = new Map();
  const spans = [];
  for (const e of events) {
    const a = attributesOf(e);
    const t = new Date(e.eventTime).getTime();
    const name = eventName(e);
    const open = (kind, label) => { const s = { kind, label, start: t, end: null, outcome: "Running" }; byId.set(e.eventId, s); spans.push(s); };
    const close = (ref, outcome) => { const s = byId.get(ref); if (s) { s.end = t; s.outcome = outcome; } };
    if (name === "ActivityTaskScheduled") open("activity", `Activity ${a.activityType && a.activityType.name} (${a.activityId})`);
    else if (name === "TimerStarted") open("timer", `Timer ${a.timerId} (${a.startToFireTimeout || ""})`);
    else if (name === "StartChildWorkflowExecutionInitiated") open("child", `Child ${a.workflowType && a.workflowType.name} (${a.workflowId})`);
    else if (name === "WorkflowExecutionSignaled") spans.push({ kind: "signal", label: `Signal ${a.signalName}`, start: t, end: t, outcome: "Signal" });
    else if (/^ActivityTask(Completed|Failed|TimedOut|Canceled)$/.test(name)) close(a.scheduledEventId, name.replace("ActivityTask", ""));
    else if (name === "TimerFired") close(a.startedEventId, "Completed");
    else if (name === "TimerCanceled") close(a.startedEventId, "Canceled");
    else if (/^ChildWorkflowExecution(Completed|Failed|Canceled|Terminated|TimedOut)$/.test(name)) close(a.initiatedEventId, name.replace("ChildWorkflowExecution", ""));
    else if (name === "StartChildWorkflowExecutionFailed") close(a.initiatedEventId, "Failed");
  }
  return spans;
}

const OUTCOME_COLOURS = {
  Running: "#2f6fd3", Completed: "#1f8a4c", Failed: "#c23434", TimedOut: "#c26a1f",
  Canceled: "#8a6d1f", Terminated: "#6b4fa0", Signal: "#6b4fa0",
};

function timeline(events, closed) {
  if (!events.length) return h("div", { class: "empty" }, "No events.");
  const first = new Date(events[0].eventTime).getTime();
  const lastEvent = new Date(events[events.length - 1].eventTime).getTime();
  const end = Math.max(closed ? lastEvent : Date.now(), first + 1);
  const spans = [{ kind: "workflow", label: "Workflow", start: first, end: closed ? lastEvent : null, outcome: closed ? "Completed" : "Running" },
    ...timelineSpans(events)];
  const shown = spans.slice(0, 300);
  const labelW = 260, width = 1100, rowH = 22, top = 24;
  const plotW = width - labelW - 16;
  const x = (t) => labelW + ((t - first) / (end - first)) * plotW;
  const svg = h("svg:svg", { width, height: top + shown.length * rowH + 8, role: "img", "aria-label": "timeline" });
  const axis = h("svg:g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const t = first + ((end - first) * i) / 4;
    axis.append(h("svg:line", { x1: x(t), x2: x(t), y1: 16, y2: top + shown.length * rowH, stroke: "#e2e5ea" }),
      h("svg:text", { x: x(t), y: 12, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
        i === 0 ? new Date(t).toLocaleTimeString() : `+${duration(first, t) || "0 ms"}`));
  }
  svg.append(axis);
  shown.forEach((s, i) => {
    const y = top + i * rowH;
    const label = s.label.length > 40 ? s.label.slice(0, 39) + "…" : s.label;
    const colour = OUTCOME_COLOURS[s.outcome] || "#677083";
    const g = h("svg:g", { class: `span ${s.kind}` },
      h("svg:title", {}, `${s.label}: ${s.outcome}`),
      h("svg:text", { x: 4, y: y + 15 }, label));
    if (s.kind === "signal") {
      g.append(h("svg:circle", { cx: x(s.start), cy: y + 11, r: 5, fill: colour }));
    } else {
      const x1 = x(s.start), x2 = x(s.end === null ? end : s.end);
      g.append(h("svg:rect", { x: x1, y: y + 4, width: Math.max(x2 - x1, 3), height: 14, rx: 3, fill: colour,
        opacity: s.end === null ? 0.55 : 0.9 }));
    }
    svg.append(g);
  });
  const note = spans.length > shown.length ? h("p", { class: "muted small" }, `First ${shown.length} of ${spans.length} rows.`) : null;
  return h("div", { class: "timeline" }, svg, note);
}

function historyTable(events) {
  return h("table", { id: "history" },
    h("colgroup", {}, h("col", { style: "width:70px" }), h("col", { style: "width:150px" }), h("col", { style: "width:280px" }), h("col")),
    h("thead", {}, h("tr", {}, ["ID", "Time", "Event", "Details"].map((t) => h("th", {}, t)))),
    h("tbody", {}, events.map((e) => h("tr", { "data-event-id": e.eventId },
      h("td", {}, e.eventId),
      h("td", {}, when(e.eventTime)),
      h("td", { class: "wrap" }, eventName(e)),
      h("td", { class: "wrap" }, h("details", {}, h("summary", {}, eventSummary(e) || "attributes"),
        h("pre", {}, JSON.stringify(attributesOf(e), null, 2))))))));
}

async function workflowPage(ns, workflowId, runId, tab) {
  await nav(ns, "workflows");
  const base = `${nsPath(ns)}/workflows/${enc(workflowId)}`;
  let described;
  try {
    described = await api(`${base}${runId ? `?execution.runId=${enc(runId)}` : ""}`);
  } catch (e) {
    show(h("h1", { class: "id" }, workflowId),
      e.status === 404 ? h("div", { class: "empty" }, "This workflow run does not exist (or its retention has expired).") : errorBox(e));
    ready();
    return;
  }
  const info = described.workflowExecutionInfo || {};
  runId = info.execution.runId;
  const status = statusName(info.status);
  const running = status === "Running";
  const runQuery = `execution.runId=${enc(runId)}`;
  const pageBase = `/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/${enc(runId)}`;

  // The history, page by page.
  let events = [];
  let token = "";
  async function loadPage() {
    const page = await api(`${base}/history?${runQuery}&maximumPageSize=${HISTORY_PAGE}${token ? `&nextPageToken=${enc(token)}` : ""}`);
    events = events.concat((page.history && page.history.events) || []);
    token = page.nextPageToken || "";
  }
  await loadPage();
  const firstEvent = events[0];
  const started = firstEvent ? attributesOf(firstEvent) : {};
  let result = null;
  if (!running && !token && events.length) {
    const last = events[events.length - 1];
    const a = attributesOf(last);
    result = a.result !== undefined ? payloadView(a.result) : a.failure ? h("pre", { class: "error" }, JSON.stringify(a.failure, null, 2)) : payloadView(a.details);
  }

  const actions = h("div", { class: "actions" });
  const runRef = { workflowExecution: { workflowId, runId } };
  if (running && !settings.readOnly) {
    actions.append(
      h("button", { class: "secondary", id: "signal", onclick: () => {
        const name = h("input", { type: "text", name: "signal-name", required: true });
        const input = h("textarea", { name: "signal-input", placeholder: "JSON input (optional)" });
        confirmDialog("Signal this workflow", [h("label", {}, "Signal name"), name, h("label", {}, "Input"), input], async () => {
          const text = input.value.trim();
          const body = { ...runRef, requestId: uuid() };
          if (text) body.input = [JSON.parse(text)];
          await api(`${base}/signal/${enc(name.value)}`, { method: "POST", body });
        });
      } }, "Signal"),
      h("button", { class: "secondary", id: "cancel", onclick: () => {
        const reason = h("input", { type: "text", name: "reason" });
        confirmDialog("Request cancellation", [h("p", {}, "The workflow decides what cancellation means."), h("label", {}, "Reason"), reason], () =>
          api(`${base}/cancel`, { method: "POST", body: { ...runRef, reason: reason.value, requestId: uuid() } }));
      } }, "Cancel"),
      h("button", { class: "danger", id: "terminate", onclick: () => {
        const reason = h("input", { type: "text", name: "reason" });
        confirmDialog("Terminate this workflow", [h("p", {}, "The run stops at once; no workflow code runs."), h("label", {}, "Reason"), reason], () =>
          api(`${base}/terminate`, { method: "POST", body: { ...runRef, reason: reason.value } }));
      } }, "Terminate"));
  }
  // A run can be reset whether it is running or closed (as Temporal allows).
  if (!settings.readOnly && events.some((e) => eventName(e) === "WorkflowTaskCompleted")) {
    actions.append(
      h("button", { class: "secondary", id: "reset", onclick: () => {
        const points = events.filter((e) => eventName(e) === "WorkflowTaskCompleted");
        const select = h("select", { name: "reset-point" }, points.map((e) => h("option", { value: e.eventId }, `#${e.eventId} WorkflowTaskCompleted`)));
        const reason = h("input", { type: "text", name: "reason" });
        confirmDialog("Reset this workflow", [h("p", {}, "A new run starts from the chosen point; this run is terminated."),
          h("label", {}, "Reset to"), select, h("label", {}, "Reason"), reason], async () => {
          const r = await api(`${base}/reset`, { method: "POST", body: { ...runRef, workflowTaskFinishEventId: select.value, reason: reason.value, requestId: uuid() } });
          if (r.runId) history.pushState({}, "", `/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/${enc(r.runId)}`);
        });
      } }, "Reset"));
  }

  const summary = h("div", { class: "panel grid", id: "summary" },
    h("div", {}, "Status"), h("div", {}, badge(status)),
    h("div", {}, "Workflow ID"), h("div", { class: "id" }, workflowId),
    h("div", {}, "Run ID"), h("div", { class: "id" }, runId),
    h("div", {}, "Type"), h("div", {}, (info.type && info.type.name) || ""),
    h("div", {}, "Task queue"), h("div", {}, h("a", { href: `/namespaces/${enc(ns)}/task-queues/${enc(info.taskQueue || "")}` }, info.taskQueue || "")),
    h("div", {}, "Start"), h("div", {}, when(info.startTime)),
    h("div", {}, "End"), h("div", {}, when(info.closeTime), info.closeTime ? ` (${duration(info.startTime, info.closeTime)})` : ""),
    h("div", {}, "History"), h("div", {}, `${info.historyLength || 0} events`),
    info.parentExecution ? [h("div", {}, "Parent"), h("div", { class: "id" }, h("a", { href: `/namespaces/${enc(info.parentNamespaceId ? ns : ns)}/workflows/${enc(info.parentExecution.workflowId)}/${enc(info.parentExecution.runId)}` }, info.parentExecution.workflowId))] : null,
    info.memo && info.memo.fields ? [h("div", {}, "Memo"), h("div", {}, payloadView(info.memo.fields))] : null);

  const io = h("div", { class: "panel grid", id: "io" },
    h("div", {}, "Input"), h("div", {}, payloadView(started.input)),
    h("div", {}, "Result"), h("div", {}, result || h("span", { class: "muted" }, running ? "Running…" : "—")));

  const pendingActivities = (described.pendingActivities || []).map((p) => h("tr", {},
    h("td", { class: "id" }, p.activityId), h("td", { class: "wrap" }, p.activityType && p.activityType.name),
    h("td", {}, p.state ? p.state.replace("PENDING_ACTIVITY_STATE_", "") : ""),
    h("td", {}, p.attempt || 1), h("td", {}, when(p.lastHeartbeatTime)),
    h("td", { class: "wrap" }, p.lastFailure ? p.lastFailure.message : "")));
  const pendingChildren = (described.pendingChildren || []).map((c) => h("tr", {},
    h("td", { class: "id" }, h("a", { href: `/namespaces/${enc(ns)}/workflows/${enc(c.workflowId)}/${enc(c.runId || "")}` }, c.workflowId)),
    h("td", {}, c.workflowTypeName || "")));
  const firedOrCanceled = new Set(events.filter((e) => /^Timer(Fired|Canceled)$/.test(eventName(e))).map((e) => attributesOf(e).startedEventId));
  const pendingTimers = events.filter((e) => eventName(e) === "TimerStarted" && !firedOrCanceled.has(e.eventId)).map((e) => {
    const a = attributesOf(e);
    return h("tr", {}, h("td", { class: "id" }, a.timerId), h("td", {}, a.startToFireTimeout), h("td", {}, when(e.eventTime)));
  });

  const pending = h("div", { id: "pending" },
    h("h2", {}, "Pending activities"),
    pendingActivities.length ? h("table", { id: "pending-activities" }, h("thead", {}, h("tr", {}, ["Activity ID", "Type", "State", "Attempt", "Last heartbeat", "Last failure"].map((t) => h("th", {}, t)))), h("tbody", {}, pendingActivities))
      : h("div", { class: "empty" }, "No pending activities."),
    pendingChildren.length ? [h("h2", {}, "Pending children"), h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Workflow ID"), h("th", {}, "Type"))), h("tbody", {}, pendingChildren))] : null,
    pendingTimers.length ? [h("h2", {}, "Pending timers"), h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Timer"), h("th", {}, "Duration"), h("th", {}, "Started"))), h("tbody", {}, pendingTimers))] : null);

  const tabs = [["history", "History"], ["timeline", "Timeline"], ["pending", "Pending"], ["stack", "Call stack"]];
  tab = tabs.some(([t]) => t === tab) ? tab : "history";
  const tabBar = h("div", { class: "tabs" }, tabs.map(([t, label]) => h("a", { href: `${pageBase}/${t}`, class: t === tab ? "active" : "" }, label)));
  const content = h("div", { id: "tab" });
  const more = h("div", { class: "pager" });

  function renderHistory() {
    more.replaceChildren();
    if (token) {
      more.append(h("span", { class: "muted small" }, `${events.length} events loaded`),
        h("button", { class: "secondary", onclick: async () => { await loadPage(); renderTab(); } }, "Load more"));
    }
    return [historyTable(events), more];
  }

  function renderTab() {
    if (tab === "history") content.replaceChildren(...renderHistory());
    else if (tab === "timeline") content.replaceChildren(timeline(events, !running && !token), ...renderHistory().slice(1));
    else if (tab === "pending") content.replaceChildren(pending);
    else {
      const out = h("pre", { id: "stack-trace" }, "Asking the workflow's worker…");
      content.replaceChildren(out);
      api(`${base}/query/__stack_trace`, { method: "POST", body: { execution: { runId }, query: {} } })
        .then((r) => {
          const v = r.queryResult;
          out.textContent = Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : JSON.stringify(x, null, 2))).join("\n") : JSON.stringify(v, null, 2);
        })
        .catch((e) => { out.textContent = `No call stack: ${e.message}`; out.classList.add("error"); });
    }
  }

  show(h("div", { class: "toolbar" }, h("h1", { class: "id clamp", title: workflowId }, workflowId), h("span", { class: "right" }, actions)),
    summary, io, tabBar, content);
  renderTab();
  ready();
}

function scheduleState(s) {
  return s.schedule && s.schedule.state && s.schedule.state.paused ? "Paused" : "Running";
}

async function schedulesPage(ns) {
  await nav(ns, "schedules");
  const list = await api(`${nsPath(ns)}/schedules?maximumPageSize=${PAGE_SIZE}`);
  const items = list.schedules || [];
  const rows = items.map((s) => {
    const info = s.info || {};
    const next = info.futureActionTimes && info.futureActionTimes[0];
    const recent = info.recentActions && info.recentActions[info.recentActions.length - 1];
    return h("tr", {},
      h("td", {}, badge(info.paused ? "Paused" : "Running")),
      h("td", { class: "id" }, h("a", { href: `/namespaces/${enc(ns)}/schedules/${enc(s.scheduleId)}` }, s.scheduleId)),
      h("td", { class: "wrap" }, (info.workflowType && info.workflowType.name) || ""),
      h("td", {}, when(next)),
      h("td", {}, recent ? when(recent.actualTime) : h("span", { class: "muted" }, "—")));
  });
  show(h("h1", {}, "Schedules"), items.length
    ? h("table", { id: "schedules" }, h("thead", {}, h("tr", {}, ["State", "Schedule ID", "Workflow type", "Next run", "Last run"].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
    : h("div", { class: "empty" }, "No schedules. Create one with `temporal schedule create` or an SDK's create_schedule."));
  ready();
}

async function schedulePage(ns, id) {
  await nav(ns, "schedules");
  const path = `${nsPath(ns)}/schedules/${enc(id)}`;
  let s;
  try {
    s = await api(path);
  } catch (e) {
    show(h("h1", { class: "id" }, id), e.status === 404 ? h("div", { class: "empty" }, "This schedule does not exist.") : errorBox(e));
    ready();
    return;
  }
  const state = scheduleState(s);
  const action = (s.schedule.action && s.schedule.action.startWorkflow) || {};
  const info = s.info || {};
  const patch = (p) => api(`${path}/patch`, { method: "POST", body: { patch: p, requestId: uuid() } });
  const actions = h("div", { class: "actions" });
  if (!settings.readOnly) {
    actions.append(
      h("button", { class: "secondary", id: "trigger", onclick: () => confirmDialog("Run now", [h("p", {}, "Starts one run at once, by the schedule's overlap policy.")], () => patch({ triggerImmediately: {} })) }, "Trigger"),
      state === "Paused"
        ? h("button", { class: "secondary", id: "unpause", onclick: () => { const note = h("input", { type: "text", name: "note" }); confirmDialog("Unpause schedule", [h("label", {}, "Note"), note], () => patch({ unpause: note.value || "Unpaused from the console" })); } }, "Unpause")
        : h("button", { class: "secondary", id: "pause", onclick: () => { const note = h("input", { type: "text", name: "note" }); confirmDialog("Pause schedule", [h("label", {}, "Note"), note], () => patch({ pause: note.value || "Paused from the console" })); } }, "Pause"));
  }
  show(h("div", { class: "toolbar" }, h("h1", { class: "id" }, id), h("span", { class: "right" }, actions)),
    h("div", { class: "panel grid", id: "schedule-summary" },
      h("div", {}, "State"), h("div", {}, badge(state), s.schedule.state && s.schedule.state.notes ? ` ${s.schedule.state.notes}` : ""),
      h("div", {}, "Workflow"), h("div", {}, (action.workflowType && action.workflowType.name) || "", " on ", (action.taskQueue && action.taskQueue.name) || ""),
      h("div", {}, "Spec"), h("div", {}, h("pre", {}, JSON.stringify(s.schedule.spec || {}, null, 2))),
      h("div", {}, "Actions taken"), h("div", {}, info.actionCount || "0"),
      h("div", {}, "Created"), h("div", {}, when(info.createTime))),
    h("h2", {}, "Next runs"),
    (info.futureActionTimes || []).length ? h("ul", { id: "next-runs" }, info.futureActionTimes.map((t) => h("li", {}, when(t), " ", h("span", { class: "muted small" }, new Date(t).toISOString()))))
      : h("div", { class: "empty" }, state === "Paused" ? "Paused: no runs are due." : "No further runs."),
    h("h2", {}, "Recent runs"),
    (info.recentActions || []).length ? h("table", {}, h("thead", {}, h("tr", {}, ["Scheduled", "Started", "Workflow"].map((t) => h("th", {}, t)))),
      h("tbody", {}, info.recentActions.slice().reverse().map((r) => h("tr", {}, h("td", {}, when(r.scheduleTime)), h("td", {}, when(r.actualTime)),
        h("td", { class: "id" }, r.startWorkflowResult ? h("a", { href: `/namespaces/${enc(ns)}/workflows/${enc(r.startWorkflowResult.workflowId)}/${enc(r.startWorkflowResult.runId)}` }, r.startWorkflowResult.workflowId) : "")))))
      : h("div", { class: "empty" }, "No runs yet."));
  ready();
}

function batchProgress(b) {
  const total = Number(b.totalOperationCount || 0), done = Number(b.completeOperationCount || 0), failed = Number(b.failureOperationCount || 0);
  const pct = total ? Math.round(((done + failed) * 100) / total) : (b.state === "BATCH_OPERATION_STATE_COMPLETED" ? 100 : 0);
  return h("div", {}, h("div", { class: "progress", title: `${pct}%` }, h("div", { style: `width:${pct}%` })),
    h("span", { class: "small muted" }, `${done} done, ${failed} failed of ${total}`));
}

async function batchesPage(ns, jobId) {
  await nav(ns, "batch");
  if (jobId) {
    const b = await api(`${nsPath(ns)}/batch-operations/${enc(jobId)}`);
    show(h("h1", { class: "id" }, jobId), h("div", { class: "panel grid", id: "batch" },
      h("div", {}, "Operation"), h("div", {}, String(b.operationType || "").replace("BATCH_OPERATION_TYPE_", "")),
      h("div", {}, "State"), h("div", {}, String(b.state || "").replace("BATCH_OPERATION_STATE_", "")),
      h("div", {}, "Progress"), h("div", {}, batchProgress(b)),
      h("div", {}, "Reason"), h("div", {}, b.reason || ""),
      h("div", {}, "Started"), h("div", {}, when(b.startTime)),
      h("div", {}, "Closed"), h("div", {}, when(b.closeTime))));
    ready();
    return;
  }
  const list = await api(`${nsPath(ns)}/batch-operations?pageSize=${PAGE_SIZE}`);
  const items = list.operationInfo || [];
  show(h("h1", {}, "Batch operations"), items.length
    ? h("table", { id: "batches" }, h("thead", {}, h("tr", {}, ["Job ID", "State", "Started", "Closed"].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((b) => h("tr", {}, h("td", { class: "id" }, h("a", { href: `/namespaces/${enc(ns)}/batch-operations/${enc(b.jobId)}` }, b.jobId)),
        h("td", {}, String(b.state || "").replace("BATCH_OPERATION_STATE_", "")), h("td", {}, when(b.startTime)), h("td", {}, when(b.closeTime))))))
    : h("div", { class: "empty" }, "No batch operations. Start one with `temporal workflow terminate --query ...`."));
  ready();
}

async function taskQueuePage(ns, queue) {
  await nav(ns, "workflows");
  const sections = [];
  for (const [type, label] of [["TASK_QUEUE_TYPE_WORKFLOW", "Workflow pollers"], ["TASK_QUEUE_TYPE_ACTIVITY", "Activity pollers"]]) {
    const d = await api(`${nsPath(ns)}/task-queues/${enc(queue)}?taskQueueType=${type}&reportStats=true`);
    const pollers = d.pollers || [];
    sections.push(h("h2", {}, label), pollers.length
      ? h("table", { class: "pollers" }, h("thead", {}, h("tr", {}, ["Identity", "Last access", "Rate per second"].map((t) => h("th", {}, t)))),
        h("tbody", {}, pollers.map((p) => h("tr", {}, h("td", { class: "id" }, p.identity), h("td", {}, when(p.lastAccessTime)), h("td", {}, p.ratePerSecond || "")))))
      : h("div", { class: "empty" }, "No worker has polled this task queue recently."));
    if (d.stats) sections.push(h("p", { class: "small muted" }, `Backlog: ${d.stats.approximateBacklogCount || 0} tasks, oldest ${d.stats.approximateBacklogAge || "0s"}`));
  }
  show(h("h1", { class: "id" }, `Task queue ${queue}`), sections);
  ready();
}

async function clusterPage() {
  await nav(null, "cluster");
  const body = h("div", { id: "cluster" });
  show(h("h1", {}, "Cluster"), body);
  async function render() {
    let c;
    try {
      c = await api("/api/keel/cluster");
    } catch (e) {
      body.replaceChildren(errorBox(e));
      return;
    }
    const fmt = (v) => (v === null || v === undefined ? "—" : String(v));
    body.replaceChildren(
      h("p", { class: "muted" }, `Seen from node ${c.nodeId}: term ${c.term}, leader ${fmt(c.leaderId)}. Refreshed every 2 s.`),
      h("table", { id: "members" },
        h("thead", {}, h("tr", {}, ["Node", "Role", "Client", "Peer", "Term", "Last log", "Applied", "Snapshot", "Lag", "Reachable"].map((t) => h("th", {}, t)))),
        h("tbody", {}, c.members.map((m) => {
          const s = m.status || {};
          const role = m.reachable ? s.role : "unreachable";
          return h("tr", { "data-node": m.nodeId, "data-role": role },
            h("td", {}, String(m.nodeId), m.self ? " (this node)" : ""),
            h("td", {}, badge(role), m.voter ? "" : " learner"),
            h("td", { class: "id" }, m.clientAddr), h("td", { class: "id" }, m.peerAddr),
            h("td", {}, fmt(s.term)), h("td", {}, fmt(s.lastLogIndex)), h("td", {}, fmt(s.appliedIndex)),
            h("td", {}, fmt(s.snapshotIndex)), h("td", {}, fmt(m.lag)),
            h("td", { class: "wrap" }, m.reachable ? "yes" : `no (${m.error || "no answer"})`));
        }))));
  }
  await render();
  ready();
  every(2000, render);
}

function notFound() {
  nav(null, "");
  show(h("h1", {}, "Page not found"), h("div", { class: "empty" }, "Nothing lives at this address. ", h("a", { href: "/namespaces" }, "See the namespaces.")));
  ready();
}

// ---- routing ----

async function route() {
  document.body.dataset.ready = "0";
  clearInterval(refreshTimer);
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "cluster" && parts.length === 1) return await clusterPage();
    if (parts[0] !== "namespaces") return notFound();
    if (parts.length === 1) return await namespacesPage();
    const [, ns, section, a, b, c] = parts;
    if (section === "workflows" && !a) return await workflowsPage(ns);
    if (section === "workflows") return await workflowPage(ns, a, b, c);
    if (section === "schedules" && !a) return await schedulesPage(ns);
    if (section === "schedules") return await schedulePage(ns, a);
    if (section === "batch-operations") return await batchesPage(ns, a);
    if (section === "task-queues" && a) return await taskQueuePage(ns, a);
    return notFound();
  } catch (e) {
    show(errorBox(e));
    ready();
  }
}

(async () => {
  try { settings = await api("/api/keel/settings"); } catch (_) { /* read-only until known */ }
  await route();
})();
