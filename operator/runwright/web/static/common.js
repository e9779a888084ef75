"use strict";
// Shared by the pages: JSON calls, actions with the CSRF header, formatting, the confirm dialog.

const RW = {};

RW.cookie = function (name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
};

RW.getJSON = async function (url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("not logged in");
  }
  if (!response.ok) {
    throw new Error(await response.text());
  }
  return response.json();
};

// POST an action; the double-submit CSRF token goes in the header.
RW.act = async function (body) {
  const response = await fetch("/api/actions", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": RW.cookie("runwright_csrf") },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    return { results: [{ ok: false, name: "", namespace: "", message: await response.text() }] };
  }
  return response.json();
};

RW.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
};

RW.svg = function (tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  return node;
};

RW.phase = function (phase) {
  return RW.el("span", { class: "phase phase-" + (phase || "Pending"), text: phase || "Pending" });
};

RW.duration = function (seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return h + "h" + String(m).padStart(2, "0") + "m";
  if (m) return m + "m" + String(r).padStart(2, "0") + "s";
  return r + "s";
};

RW.time = function (iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
};

RW.number = function (value) {
  if (value === null || value === undefined) return "";
  return Number.isInteger(value) ? String(value) : value.toFixed(4).replace(/0+$/, "");
};

// The confirm dialog: resolves {ok, block} once the user answers.
RW.confirm = function (text, askBlock) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  const label = document.getElementById("confirm-block-label");
  const input = document.getElementById("confirm-block");
  label.hidden = !askBlock;
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve({ ok: dialog.returnValue === "ok", block: input.value.trim() }),
      { once: true }
    );
    dialog.returnValue = "";
    dialog.showModal();
  });
};

RW.showResults = function (box, results) {
  box.replaceChildren(
    ...results.map((r) =>
      RW.el("div", { class: r.ok ? "ok" : "error" }, (r.name ? r.namespace + "/" + r.name + ": " : "") + r.message)
    )
  );
};

RW.session = RW.getJSON("/api/session").then((session) => {
  const logout = document.getElementById("logout-form");
  if (logout && session.cookieLogin) logout.hidden = false;
  if (session.readOnly) {
    document.querySelectorAll(".act").forEach((b) => { b.hidden = true; });
  }
  return session;
});
