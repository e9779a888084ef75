"use strict";
// The runs list: filters and sort kept in the URL, pages by cursor, live rows from /api/events.

const FILTERS = ["q", "phase", "pipeline", "trigger", "triggeredBy", "namespace", "range", "since", "until"];
const state = { sort: "started", order: "desc", cursors: [null], page: 0, rows: new Map(), selected: new Set() };
const tbody = document.querySelector("#runs tbody");

function params(extra) {
  const p = new URLSearchParams();
  for (const name of FILTERS) {
    const input = document.getElementById("f-" + name);
    let value = input.value.trim();
    if ((name === "since" || name === "until") && value) value = new Date(value + "Z").toISOString();
    if (name === "range" && value === "custom") continue;
    if (value) p.set(name, value);
  }
  p.set("sort", state.sort);
  p.set("order", state.order);
  for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
  return p;
}

function restore() {
  const p = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    const value = p.get(name);
    if (value) document.getElementById("f-" + name).value = (name === "since" || name === "until") ? value.slice(0, 16) : value;
  }
  if (p.get("since") || p.get("until")) document.getElementById("f-range").value = "custom";
  state.sort = p.get("sort") || "started";
  state.order = p.get("order") || "desc";
  document.getElementById("custom-range").hidden = document.getElementById("f-range").value !== "custom";
}

function key(row) { return row.namespace + "/" + row.name; }

function cell(column, content) {
  return RW.el("td", { class: "col-" + column }, content);
}

function renderRow(row) {
  const k = key(row);
  const box = RW.el("input", { type: "checkbox", class: "pick", "aria-label": "select " + k, checked: state.selected.has(k) });
  box.addEventListener("change", () => {
    if (box.checked) state.selected.add(k); else state.selected.delete(k);
    updateSelection();
  });
  const link = row.archived
    ? RW.el("span", { class: "name" }, row.name, " ", RW.el("span", { class: "tag", text: "archived" }))
    : RW.el("a", { href: "/runs/" + encodeURIComponent(row.namespace) + "/" + encodeURIComponent(row.name), class: "name" }, row.name);
  return RW.el(
    "tr",
    { "data-key": k, "data-phase": row.phase, class: row.archived ? "archived" : "" },
    RW.el("td", {}, box),
    cell("name", link),
    cell("namespace", row.namespace),
    cell("pipeline", row.pipeline),
    cell("phase", RW.phase(row.phase)),
    cell("reason", row.reason),
    cell("trigger", row.trigger),
    cell("triggeredBy", row.triggeredBy),
    cell("started", RW.time(row.started)),
    cell("completed", RW.time(row.completed)),
    cell("duration", RW.duration(row.duration)),
    cell("itemsProcessed", RW.number(row.itemsProcessed)),
    cell("cost", RW.number(row.cost)),
    cell("tokens", RW.number(row.tokens)),
    cell("message", row.error)
  );
}

function renderCounts(counts, archived) {
  const box = document.getElementById("counts");
  const phases = ["Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled"];
  const items = phases.map((phase) => {
    const b = RW.el("button", { type: "button", class: "count phase-" + phase, "data-phase": phase },
      phase + " ", RW.el("b", { class: "n", text: String(counts[phase] || 0) }));
    b.addEventListener("click", () => {
      const select = document.getElementById("f-phase");
      select.value = select.value === phase ? "" : phase;
      reload();
    });
    return b;
  });
  if (archived && Object.keys(archived).length) {
    const total = Object.values(archived).reduce((a, b) => a + b, 0);
    items.push(RW.el("span", { class: "archived-counts", title: JSON.stringify(archived) }, "archive: " + total + " runs"));
  }
  box.replaceChildren(...items);
}

function updateSelection() {
  document.getElementById("selected-count").textContent = state.selected.size + " selected";
  const suffix = state.selected.size ? "&selected=" + encodeURIComponent([...state.selected].join(",")) : "";
  const base = params().toString();
  document.getElementById("export-csv").href = "/api/export?format=csv&" + base + suffix;
  document.getElementById("export-json").href = "/api/export?format=json&" + base + suffix;
}

function renderSortMarks() {
  document.querySelectorAll("#runs th[data-sort]").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.sort === state.sort);
    th.setAttribute("aria-sort", th.dataset.sort === state.sort ? (state.order === "asc" ? "ascending" : "descending") : "none");
  });
}

let loading = null;
async function load() {
  const p = params({ cursor: state.cursors[state.page] });
  history.replaceState(null, "", "/?" + params().toString());
  const mine = (loading = RW.getJSON("/api/runs?" + p.toString()));
  let data;
  try {
    data = await mine;
  } catch (error) {
    document.getElementById("note").hidden = false;
    document.getElementById("note").textContent = String(error.message || error);
    return;
  }
  if (mine !== loading) return;
  state.rows = new Map(data.runs.map((r) => [key(r), r]));
  tbody.replaceChildren(...data.runs.map(renderRow));
  renderCounts(data.counts, {});
  RW.getJSON("/api/counts?" + p.toString()).then((c) => { if (mine === loading) renderCounts(data.counts, c.archivedCounts); }, () => {});
  const denied = document.getElementById("denied");
  denied.hidden = !data.denied.length;
  denied.textContent = data.denied.length ? "Not shown (you may not list runs there): " + data.denied.join(", ") : "";
  const note = document.getElementById("note");
  note.hidden = !data.note;
  note.textContent = data.note || "";
  state.cursors[state.page + 1] = data.next;
  document.getElementById("next").disabled = !data.next;
  document.getElementById("prev").disabled = state.page === 0;
  document.getElementById("page-info").textContent = "page " + (state.page + 1) + " · " + data.total + " live runs match";
  document.body.dataset.loaded = String(Date.now());
  renderSortMarks();
  updateSelection();
}

function reload() {
  state.page = 0;
  state.cursors = [null];
  document.getElementById("custom-range").hidden = document.getElementById("f-range").value !== "custom";
  return load();
}

let pending = null;
function reloadSoon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; load(); }, 150);
}

// A run event: update its row in place when shown; otherwise the page may change (new run).
function onRun(event) {
  const data = JSON.parse(event.data);
  const row = data.row;
  const shown = tbody.querySelector('tr[data-key="' + CSS.escape(key(row)) + '"]');
  if (data.type === "MODIFIED" && shown && row.phase === shown.dataset.phase) {
    shown.replaceWith(renderRow(row));
    return;
  }
  reloadSoon();
}

function connect() {
  const live = document.getElementById("live");
  const ns = document.getElementById("f-namespace").value.trim();
  const source = new EventSource("/api/events" + (ns ? "?namespace=" + encodeURIComponent(ns) : ""));
  source.addEventListener("hello", () => { live.textContent = "live"; live.className = "live on"; reloadSoon(); });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("run", onRun);
  source.addEventListener("reset", () => { source.close(); reload(); connect(); });
  source.addEventListener("problem", (e) => {
    live.textContent = JSON.parse(e.data).message; live.className = "live off";
  });
  state.source = source;
}

async function act(button) {
  if (!state.selected.size) {
    RW.showResults(document.getElementById("results"), [{ ok: false, message: "select runs first" }]);
    return;
  }
  const targets = [...state.selected].map((k) => { const [namespace, name] = k.split("/"); return { namespace, name }; });
  const verb = button.textContent.trim().replace("…", "");
  const askBlock = button.dataset.mode === "FromBlock";
  const answer = await RW.confirm(verb + ": " + targets.length + " run(s): " + [...state.selected].join(", ") + "?", askBlock);
  if (!answer.ok) return;
  const body = { action: button.dataset.action, runs: targets, mode: button.dataset.mode, pipelineSpec: button.dataset.spec };
  if (askBlock) body.fromBlock = answer.block;
  const result = await RW.act(body);
  RW.showResults(document.getElementById("results"), result.results);
  state.selected.clear();
  reloadSoon();
}

// Typing waits for a pause; a choice (select, date) applies at once.
document.getElementById("filters").addEventListener("input", () => {
  clearTimeout(state.typing);
  state.typing = setTimeout(reload, 250);
});
document.getElementById("filters").addEventListener("change", () => {
  clearTimeout(state.typing);
  reload();
});
document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
document.getElementById("f-namespace").addEventListener("change", () => { state.source.close(); connect(); });
document.querySelectorAll("#runs th[data-sort]").forEach((th) => {
  th.addEventListener("click", () => {
    if (state.sort === th.dataset.sort) state.order = state.order === "desc" ? "asc" : "desc";
    else { state.sort = th.dataset.sort; state.order = "desc"; }
    reload();
  });
});
document.getElementById("select-all").addEventListener("change", (e) => {
  for (const k of state.rows.keys()) { if (e.target.checked) state.selected.add(k); else state.selected.delete(k); }
  tbody.querySelectorAll("input.pick").forEach((b) => { b.checked = e.target.checked; });
  updateSelection();
});
document.getElementById("next").addEventListener("click", () => { state.page += 1; load(); });
document.getElementById("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); load(); });
document.querySelectorAll("#toolbar .act").forEach((b) => b.addEventListener("click", () => act(b)));

restore();
load();
connect();
