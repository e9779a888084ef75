"use strict";
// One run: overview, DAG, timeline, attempts with their logs, outputs, Events; live, with actions.

const parts = location.pathname.split("/").map(decodeURIComponent);
const NS = parts[2], NAME = parts[3];
const view = { detail: null, log: null, logText: "", source: null };

function attemptsOf(status) {
  const rows = [];
  for (const [block, b] of Object.entries(status.blocks || {})) {
    if (b.items && !b.attempt) {
      // A fan-out: one row for all its items (each item's pod has its own log).
      rows.push({ block, attempt: null, fanout: true, phase: b.phase, reason: b.message || "", exitCode: null,
        startedAt: b.startedAt, completedAt: b.completedAt });
      continue;
    }
    const list = (b.attempts && b.attempts.length) ? b.attempts : (b.attempt ? [b] : []);
    for (const a of list) {
      rows.push({ block, attempt: a.attempt, phase: a.phase || b.phase, reason: a.reason || "", exitCode: a.exitCode,
        startedAt: a.startedAt, completedAt: a.completedAt });
    }
    if (b.attempts && b.attempts.length && b.attempt > b.attempts[b.attempts.length - 1].attempt) {
      rows.push({ block, attempt: b.attempt, phase: b.phase, reason: b.reason || "", exitCode: b.exitCode,
        startedAt: b.startedAt, completedAt: b.completedAt });
    }
  }
  return rows;
}

// The run's duration; while it has not finished, the time elapsed since it started.
function durationOf(r, s) {
  if (s.duration || (r.duration !== null && r.duration !== undefined)) return s.duration || RW.duration(r.duration);
  if (r.started && !r.completed) return RW.duration((Date.now() - Date.parse(r.started)) / 1000) + " (elapsed)";
  return "";
}

function overview(d) {
  const r = d.row, s = d.status;
  const generation = s.pipelineGeneration ? ` (generation ${s.pipelineGeneration})` : "";
  const items = [
    ["Phase", RW.phase(r.phase)], ["Reason", r.reason], ["Message", r.message], ["Pipeline", r.pipeline + generation],
    ["Trigger", r.trigger], ["Triggered by", r.triggeredBy], ["Created", RW.time(d.metadata.creationTimestamp)],
    ["Started", RW.time(r.started)],
    ["Completed", RW.time(r.completed)], ["Duration", durationOf(r, s)], ["Progress", s.progress || ""],
    ["Items processed", RW.number(r.itemsProcessed)], ["Cost", RW.number(r.cost)], ["Tokens", RW.number(r.tokens)],
    ["Variables", Object.entries(s.variables || d.spec.variables || {}).map(([k, v]) => k + "=" + v).join(", ")],
  ];
  document.getElementById("overview").replaceChildren(
    ...items.flatMap(([k, v]) => [RW.el("dt", { text: k }), RW.el("dd", { "data-field": k }, v)])
  );
}

function attemptsTable(rows) {
  const tbody = document.querySelector("#attempts tbody");
  tbody.replaceChildren(...rows.map((a) => {
    const button = a.fanout ? "" : RW.el("button", { type: "button", class: "show-log", "data-block": a.block, "data-attempt": a.attempt }, "log");
    if (button) button.addEventListener("click", () => openLog(a.block, a.attempt));
    const s = a.startedAt ? Date.parse(a.startedAt) : null, e = a.completedAt ? Date.parse(a.completedAt) : null;
    return RW.el("tr", { "data-block": a.block, "data-attempt": a.attempt },
      RW.el("td", {}, a.block), RW.el("td", {}, a.fanout ? "items" : a.attempt), RW.el("td", {}, RW.phase(a.phase)), RW.el("td", {}, a.reason),
      RW.el("td", {}, a.exitCode === undefined || a.exitCode === null ? "" : a.exitCode),
      RW.el("td", {}, RW.time(a.startedAt)), RW.el("td", {}, RW.time(a.completedAt)),
      RW.el("td", {}, s && e ? RW.duration((e - s) / 1000) : ""), RW.el("td", {}, button));
  }));
}

function outputs(status) {
  const box = document.getElementById("outputs");
  const rows = [];
  for (const [block, b] of Object.entries(status.blocks || {})) {
    for (const [k, v] of Object.entries(b.outputs || {})) rows.push(RW.el("tr", {}, RW.el("td", {}, block), RW.el("td", {}, k), RW.el("td", {}, v)));
  }
  for (const [k, v] of Object.entries(status.metrics || {})) rows.push(RW.el("tr", {}, RW.el("td", {}, "(run metric)"), RW.el("td", {}, k), RW.el("td", {}, v)));
  box.replaceChildren(rows.length
    ? RW.el("table", { class: "runs" }, RW.el("thead", {}, RW.el("tr", {}, RW.el("th", {}, "Block"), RW.el("th", {}, "Key"), RW.el("th", {}, "Value"))), RW.el("tbody", {}, ...rows))
    : RW.el("p", { class: "muted", text: "none reported" }));
}

// A timeline bar opens that attempt's log; a DAG node, its block's latest attempt's.
function clickable(rows) {
  const show = (block, attempt) => {
    openLog(block, attempt);
    document.getElementById("log-section").scrollIntoView({ block: "nearest" });
  };
  document.querySelectorAll("#timeline rect.bar").forEach((bar) => {
    if (bar.dataset.attempt) bar.addEventListener("click", () => show(bar.dataset.block, Number(bar.dataset.attempt)));
  });
  document.querySelectorAll("#dag g.node").forEach((node) => {
    const tries = rows.filter((a) => a.block === node.dataset.block && !a.fanout).map((a) => a.attempt);
    if (tries.length) node.addEventListener("click", () => show(node.dataset.block, Math.max(...tries)));
  });
}

// The run's context in one JSON document: what it ran with and what each block did.
function context(d, rows) {
  const blocks = {};
  for (const [name, b] of Object.entries(d.status.blocks || {})) {
    blocks[name] = { phase: b.phase, attempts: rows.filter((a) => a.block === name).length, startedAt: b.startedAt,
      completedAt: b.completedAt, outputs: b.outputs || {} };
  }
  document.getElementById("context").textContent = JSON.stringify({
    run: d.metadata.namespace + "/" + d.metadata.name, uid: d.metadata.uid, pipeline: d.row.pipeline,
    pipelineGeneration: d.status.pipelineGeneration, triggeredBy: d.row.triggeredBy, trigger: d.row.trigger,
    executionDate: d.spec.executionDate, variables: d.status.variables || d.spec.variables || {},
    phase: d.row.phase, createdAt: d.metadata.creationTimestamp, startedAt: d.row.started, completedAt: d.row.completed,
    durationSeconds: d.row.duration, metrics: d.status.metrics || {}, blocks,
  }, null, 2);
}

function events(list) {
  document.querySelector("#events tbody").replaceChildren(...list.map((e) =>
    RW.el("tr", { class: e.type === "Warning" ? "warning" : "" }, RW.el("td", {}, RW.time(e.time)), RW.el("td", {}, e.type),
      RW.el("td", {}, e.reason), RW.el("td", {}, e.message), RW.el("td", {}, e.count))));
}

async function load() {
  let d;
  try {
    d = await RW.getJSON("/api/runs/" + encodeURIComponent(NS) + "/" + encodeURIComponent(NAME));
  } catch (error) {
    const box = document.getElementById("problem");
    box.hidden = false;
    box.textContent = String(error.message || error);
    return;
  }
  view.detail = d;
  document.getElementById("title").textContent = NS + "/" + NAME;
  document.title = NAME + " · Runwright";
  overview(d);
  Graphs.dag(document.getElementById("dag"), d.dag);
  const rows = attemptsOf(d.status);
  Graphs.timeline(document.getElementById("timeline"), rows, Date.now());
  clickable(rows);
  attemptsTable(rows);
  outputs(d.status);
  context(d, rows);
  events(d.events);
  document.body.dataset.loaded = String(Date.now());
}

function renderLog() {
  const needle = document.getElementById("log-search").value.trim().toLowerCase();
  const lines = view.logText.split("\n");
  document.getElementById("log").textContent = needle ? lines.filter((l) => l.toLowerCase().includes(needle)).join("\n") : view.logText;
}

function logURL(suffix) {
  const { block, attempt } = view.log;
  return `/api/runs/${encodeURIComponent(NS)}/${encodeURIComponent(NAME)}/log${suffix}?block=${encodeURIComponent(block)}&attempt=${attempt}`;
}

function logState(state, text) {
  const box = document.getElementById("log-state");
  box.dataset.state = state;
  box.textContent = text;
}

function stopFollowing() {
  if (view.source) { view.source.close(); view.source = null; }
}

// The attempt's log once (its tail); while its pod runs, then follow it live.
async function fetchLog(mayFollow = true) {
  if (!view.log) return;
  const opened = view.log;
  let data;
  try {
    data = await RW.getJSON(logURL(""));
  } catch (error) {
    data = { text: "", note: String(error.message || error), phase: "" };
  }
  if (view.log !== opened) return;
  view.logText = data.note ? data.note : data.text;
  renderLog();
  if (data.phase === "Running" && mayFollow && document.getElementById("log-follow").checked) {
    followLog();
  } else if (data.phase && mayFollow) {
    logState("done", "pod " + data.phase);
  }
}

// Server-Sent Events from /log/follow: the tail, then each line as the pod writes it; `end`
// when the pod finished (or a bound was reached), after which the final log is read once.
function followLog() {
  stopFollowing();
  const opened = view.log;
  const source = new EventSource(logURL("/follow"));
  view.source = source;
  logState("connecting", "connecting…");
  source.addEventListener("start", () => { view.logText = ""; logState("following", "following live"); });
  source.addEventListener("lines", (e) => {
    const lines = JSON.parse(e.data).lines;
    view.logText += lines.map((l) => l + "\n").join("");
    renderLog();
  });
  source.addEventListener("end", (e) => {
    const end = JSON.parse(e.data);
    stopFollowing();
    if (view.log !== opened) return;
    if (end.reason === "finished") logState("finished", "pod " + end.phase + ": not following");
    else logState("stopped", end.message || "the log ended");
    fetchLog(false);
    load();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED && view.source === source) {
      view.source = null;
      logState("stopped", "not following: the server refused or the connection was lost (reopen the log)");
    }
  });
}

function openLog(block, attempt) {
  stopFollowing();
  view.log = { block, attempt };
  logState("", "");
  document.getElementById("log-section").hidden = false;
  document.getElementById("log-title").textContent = `Log of ${block}, attempt ${attempt}`;
  fetchLog();
}

async function act(button) {
  const askBlock = button.dataset.mode === "FromBlock";
  const answer = await RW.confirm(button.textContent.trim().replace("…", "") + ": " + NS + "/" + NAME + "?", askBlock);
  if (!answer.ok) return;
  const body = { action: button.dataset.action, runs: [{ namespace: NS, name: NAME }], mode: button.dataset.mode, pipelineSpec: button.dataset.spec };
  if (askBlock) body.fromBlock = answer.block;
  const result = await RW.act(body);
  RW.showResults(document.getElementById("results"), result.results);
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events?namespace=" + encodeURIComponent(NS));
  source.addEventListener("hello", () => { live.textContent = "live"; live.className = "live on"; load(); });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("run", (e) => {
    const row = JSON.parse(e.data).row;
    if (row.name === NAME && row.namespace === NS) load();
  });
  source.addEventListener("reset", () => { source.close(); load(); connect(); });
}

document.getElementById("log-search").addEventListener("input", renderLog);
document.getElementById("log-follow").addEventListener("change", (e) => {
  if (!e.target.checked) { stopFollowing(); logState("stopped", "not following"); } else fetchLog();
});
document.querySelectorAll("#toolbar .act").forEach((b) => b.addEventListener("click", () => act(b)));
load();
connect();
