"use strict";
// Pipelines (blocks, recent runs with a duration/success chart) and triggers (next fires, suspend, run now).

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": RW.cookie("runwright_csrf") },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) return { ok: false, message: text };
  return JSON.parse(text);
}

function variablesOf(text) {
  const variables = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) variables[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return variables;
}

// One bar per recent run, oldest left: height is its duration, colour its phase.
function chart(recent) {
  const runs = [...recent].reverse();
  const W = 14, H = 60;
  const longest = Math.max(1, ...runs.map((r) => r.duration || 0));
  const svg = RW.svg("svg", { width: Math.max(1, runs.length) * (W + 3), height: H + 2, class: "chart", role: "img" });
  runs.forEach((r, i) => {
    const h = Math.max(3, ((r.duration || 0) / longest) * H);
    const bar = RW.svg("rect", { x: i * (W + 3), y: H - h, width: W, height: h, class: "bar phase-" + r.phase, "data-run": r.name });
    bar.append(RW.svg("title", { text: `${r.name}: ${r.phase}, ${RW.duration(r.duration)}` }));
    svg.append(bar);
  });
  return svg;
}

function triggerRow(t) {
  const key = t.namespace + "/" + t.name;
  const toggle = RW.el("button", { type: "button", class: "act suspend", "data-trigger": key }, t.suspend ? "Resume" : "Suspend");
  toggle.addEventListener("click", async () => {
    const answer = await RW.confirm((t.suspend ? "Resume " : "Suspend ") + key + "?", false);
    if (!answer.ok) return;
    RW.showResults(document.getElementById("results"), [await post("/api/triggers/suspend", { namespace: t.namespace, name: t.name, suspend: !t.suspend })]);
    load();
  });
  const now = RW.el("button", { type: "button", class: "act run-now", "data-trigger": key }, "Run now…");
  now.addEventListener("click", async () => {
    const answer = await RW.confirm("Run " + t.pipeline + " now through " + key + "?", true);
    if (!answer.ok) return;
    RW.showResults(document.getElementById("results"), [await post("/api/triggers/run", { namespace: t.namespace, name: t.name, variables: variablesOf(answer.block) })]);
    load();
  });
  const fires = t.upcoming.length ? RW.el("ul", { class: "fires" }, ...t.upcoming.map((f) => RW.el("li", {}, RW.time(f)))) : t.upcomingNote;
  return RW.el("tr", { "data-key": key },
    RW.el("td", {}, t.name), RW.el("td", {}, t.namespace), RW.el("td", {}, t.pipeline), RW.el("td", {}, t.type),
    RW.el("td", {}, t.cron ? t.cron + " (" + t.timezone + ")" : ""), RW.el("td", { class: "col-fires" }, fires),
    RW.el("td", {}, t.lastRun ? RW.el("span", {}, t.lastRun.name + " ", RW.phase(t.lastRun.phase)) : ""),
    RW.el("td", { class: "col-suspend" }, t.suspend ? "yes" : "no"), RW.el("td", {}, toggle, " ", now));
}

function pipelineCard(p) {
  const box = RW.el("section", { class: "pipeline", "data-key": p.namespace + "/" + p.name });
  box.append(RW.el("h2", {}, p.namespace + "/" + p.name + " ", RW.el("span", { class: "muted", text: p.description })));
  const dag = RW.el("div", { class: "graph" });
  Graphs.dag(dag, p.blocks.map((b) => ({ name: b.name, upstream: b.upstream, finally: false, phase: "Pending" })));
  box.append(dag);
  const recent = RW.el("div", { class: "recent" });
  recent.append(chart(p.recent));
  recent.append(RW.el("ul", { class: "recent-runs" }, ...p.recent.slice(0, 5).map((r) =>
    RW.el("li", {}, RW.el("a", { href: "/runs/" + encodeURIComponent(p.namespace) + "/" + encodeURIComponent(r.name) }, r.name), " ",
      RW.phase(r.phase), " ", RW.duration(r.duration)))));
  box.append(RW.el("p", { class: "muted", text: "Ready: " + p.ready + (p.readyMessage ? " (" + p.readyMessage + ")" : "") + " · active runs: " + p.activeRuns }));
  box.append(recent);
  return box;
}

async function load() {
  const ns = document.getElementById("f-namespace").value.trim();
  const data = await RW.getJSON("/api/pipelines" + (ns ? "?namespace=" + encodeURIComponent(ns) : ""));
  document.querySelector("#triggers tbody").replaceChildren(...data.triggers.map(triggerRow));
  document.getElementById("pipelines").replaceChildren(...data.pipelines.map(pipelineCard));
  const denied = document.getElementById("denied");
  denied.hidden = !data.denied.length;
  denied.textContent = data.denied.length ? "Not shown (you may not list runs there): " + data.denied.join(", ") : "";
  document.body.dataset.loaded = String(Date.now());
  RW.session.then((s) => { if (s.readOnly) document.querySelectorAll(".act").forEach((b) => { b.hidden = true; }); });
}

const initial = new URLSearchParams(location.search).get("namespace");
if (initial) document.getElementById("f-namespace").value = initial;
document.getElementById("filters").addEventListener("change", load);
document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
load();
