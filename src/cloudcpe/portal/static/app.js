// cloudcpe portals: live operations (server-sent events), the rules table, confirmations.
// Plain JavaScript, no build step. Every page works without it, except live updates.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

// ---------------------------------------------------------------- live operations
function opRow(op, mayAct) {
  const tr = el("tr", { "data-op": op.id, "data-state": op.state });
  tr.append(el("td", { text: op.started || "" }));
  tr.append(el("td", {}, el("a", { href: `/services/${op.ns_instance_id}`, text: op.service })));
  tr.append(el("td", { text: op.operation }));
  tr.append(el("td", {}, el("span", { class: `badge s-${op.state}`, text: op.state })));
  const progress = el("progress", { max: "100", value: String(op.progress), "aria-label": `progress of ${op.operation}` });
  const steps = el("small", { text: ` ${op.current_step || ""} ${op.steps_done.join(", ")}` });
  tr.append(el("td", {}, progress, steps));
  const err = el("td", { class: "err" });
  if (op.error) {
    err.append(el("strong", { text: op.error.title || "" }), document.createTextNode(`: ${op.error.detail || ""}`));
  }
  tr.append(err);
  const acts = el("td");
  if (op.state === "FAILED_TEMP" && mayAct) {
    for (const a of ["retry", "rollback", "fail"]) {
      const form = el("form", { method: "post", action: `/operations/${op.id}/${a}`, class: "inline" },
        el("input", { type: "hidden", name: "csrf", value: csrfToken() }),
        el("button", { type: "submit", text: a[0].toUpperCase() + a.slice(1) }));
      acts.append(form, document.createTextNode(" "));
    }
  }
  tr.append(acts);
  return tr;
}

function applySnapshot(data) {
  const body = document.getElementById("ops-body");
  if (body) {
    const mayAct = body.dataset.mayAct === "yes";
    const rows = data.operations.map((op) => opRow(op, mayAct));
    body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "none" }, el("td", { colspan: "7", text: "No operations yet." }))]));
  }
  for (const [id, svc] of Object.entries(data.services)) {
    document.querySelectorAll(`[data-ns-status="${id}"]`).forEach((n) => {
      n.textContent = svc.status; n.className = `badge s-${svc.status}`;
    });
    document.querySelectorAll(`[data-ns-state="${id}"]`).forEach((n) => { n.textContent = svc.ns_state; });
  }
  document.dispatchEvent(new CustomEvent("ccpe:operations", { detail: data }));
}

function startLive() {
  const box = document.querySelector("[data-live]");
  if (!box || !window.EventSource) return;
  const source = new EventSource(box.dataset.live);
  source.addEventListener("operations", (ev) => {
    box.classList.add("connected");
    const data = JSON.parse(ev.data);
    // the service this page shows changed state since the page was rendered (it came up,
    // an update finished): refresh the page's other parts (chain, policy, chart) once,
    // unless the visitor is editing the policy
    const shown = document.querySelector("h1 [data-ns-status]");
    const now = shown && data.services[shown.dataset.nsStatus];
    const changed = now && shown.textContent.trim() !== now.status;
    applySnapshot(data);
    if (changed && document.querySelector(".rules-form") && !document.querySelector(".rules-form.dirty")) {
      window.location.reload();
    }
  });
  source.onerror = () => box.classList.remove("connected");
  window.addEventListener("beforeunload", () => source.close());
}

// ---------------------------------------------------------------- rules tables
function renumber(tbody) {
  [...tbody.rows].forEach((row, i) => {
    const head = row.querySelector("th"); if (head) head.textContent = String(i + 1);
    row.querySelectorAll("[aria-label]").forEach((n) => {
      n.setAttribute("aria-label", n.getAttribute("aria-label").replace(/\d+$/, String(i + 1)));
    });
  });
}

function blankRow(table) {
  const p = table.dataset.prefix || "";
  const tbody = table.tBodies[0];
  const n = tbody.rows.length + 1;
  const select = (name, options, label) => el("select", { name: p + name, "aria-label": `${label} of rule ${n}` },
    ...options.map((o) => el("option", { text: o })));
  const input = (name, label, hint) => el("input", { name: p + name, "aria-label": `${label} of rule ${n}`, placeholder: hint });
  const row = el("tr", {},
    el("th", { scope: "row", text: String(n) }),
    el("td", {}, select("action", ["allow", "deny"], "action")),
    el("td", {}, select("protocol", ["any", "tcp", "udp", "icmp"], "protocol")),
    el("td", {}, input("src", "src", "192.168.10.0/24")),
    el("td", {}, input("dst", "dst", "any")),
    el("td", {}, input("dst_ports", "dst ports", "80, 443")),
    el("td", {}, input("description", "description", "")),
    el("td", { class: "row-actions" },
      el("button", { type: "button", "data-row": "up", "aria-label": `move rule ${n} up`, text: "↑" }),
      el("button", { type: "button", "data-row": "down", "aria-label": `move rule ${n} down`, text: "↓" }),
      el("button", { type: "button", "data-row": "remove", "aria-label": `remove rule ${n}`, text: "✕" })));
  tbody.append(row);
  row.querySelector("select").focus();
}

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button[data-row]");
  if (!btn) return;
  const form = btn.closest("form"); if (form) form.classList.add("dirty");
  if (btn.dataset.row === "add") {
    const table = btn.previousElementSibling?.matches("table.rules") ? btn.previousElementSibling
      : btn.closest("form, fieldset").querySelector("table.rules");
    blankRow(table); return;
  }
  const row = btn.closest("tr"); const tbody = row.parentElement;
  if (btn.dataset.row === "remove") row.remove();
  if (btn.dataset.row === "up" && row.previousElementSibling) tbody.insertBefore(row, row.previousElementSibling);
  if (btn.dataset.row === "down" && row.nextElementSibling) tbody.insertBefore(row.nextElementSibling, row);
  renumber(tbody);
  if (btn.isConnected) btn.focus();
});

document.addEventListener("input", (ev) => { ev.target.closest(".rules-form")?.classList.add("dirty"); });

document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

document.addEventListener("DOMContentLoaded", startLive);
window.ccpe = { csrfToken, el };
