// The Network Service Designer: pick functions, order them (drag and drop, or the up/down
// buttons), set default parameters, mark customer-settable ones, validate (the server's
// catalog validation), save versions, publish. No build step.
"use strict";

(function () {
  const { el, csrfToken } = window.ccpe;
  const functions = JSON.parse(document.getElementById("functions-data").textContent);
  const start = JSON.parse(document.getElementById("start-data").textContent);
  const byName = Object.fromEntries(functions.map((f) => [f.name, f]));
  const SHORT = { firewall: "fw", nat: "nat", router: "rt" };
  const chainBox = document.getElementById("chain");
  const status = document.getElementById("d-status");
  const nameInput = document.getElementById("d-name");
  const descInput = document.getElementById("d-description");
  let chain = start.chain.map((c) => ({
    name: c.name, function: c.function,
    paramsText: JSON.stringify(c.params || {}, null, 2),
    customer_params: [...(c.customer_params || [])],
  }));
  nameInput.value = start.name || "";
  descInput.value = start.description || "";

  function uniqueName(kind) {
    const base = SHORT[kind] || kind.slice(0, 6);
    let name = base; let i = 2;
    while (chain.some((c) => c.name === name)) name = `${base}${i++}`;
    return name;
  }

  function defaults(kind) {
    return kind === "firewall" ? { rules: [], default_action: "deny" } : {};
  }

  function add(kind, at = chain.length) {
    chain.splice(at, 0, { name: uniqueName(kind), function: kind,
      paramsText: JSON.stringify(defaults(kind), null, 2), customer_params: [] });
    render();
    status.textContent = `Added ${kind} at position ${at + 1}.`;
  }

  function move(i, by) {
    const j = i + by;
    if (j < 0 || j >= chain.length) return;
    [chain[i], chain[j]] = [chain[j], chain[i]];
    render();
    chainBox.children[j]?.querySelector(`[data-act="${by < 0 ? "up" : "down"}"]`)?.focus();
    status.textContent = `Moved ${chain[j].name} to position ${j + 1}.`;
  }

  // ---- palette
  const palette = document.getElementById("palette");
  for (const f of functions) {
    const card = el("div", { class: "fn-card", draggable: "true", title: f.description },
      el("span", {}, el("strong", { text: f.name })),
      el("button", { type: "button", "aria-label": `add ${f.name} to the chain`, text: "Add" }));
    card.addEventListener("dragstart", (ev) => ev.dataTransfer.setData("text/x-ccpe-function", f.name));
    card.querySelector("button").addEventListener("click", () => add(f.name));
    palette.append(el("li", {}, card, el("small", { text: f.description })));
  }

  // ---- the chain
  function render() {
    chainBox.replaceChildren(...chain.map((c, i) => {
      const fn = byName[c.function] || { params_schema: { properties: {} } };
      const props = Object.keys(fn.params_schema.properties || {});
      const li = el("li", { class: "chain-el", draggable: "true", "data-index": String(i) });
      const nameId = `el-${i}-name`; const paramsId = `el-${i}-params`;
      const name = el("input", { id: nameId, value: c.name, "aria-describedby": `${nameId}-err`, size: "10" });
      name.addEventListener("input", () => { c.name = name.value; });
      const header = el("header", {},
        el("span", { class: "handle", "aria-hidden": "true", text: "⠿" }),
        el("span", { class: "pos", text: `${i + 1}.` }),
        el("span", { class: "kind", text: c.function }),
        el("label", { for: nameId, text: "name" }), name,
        el("span", { class: "el-actions" },
          el("button", { type: "button", "data-act": "up", "aria-label": `move ${c.name} up`, text: "↑" }),
          el("button", { type: "button", "data-act": "down", "aria-label": `move ${c.name} down`, text: "↓" }),
          el("button", { type: "button", "data-act": "remove", "aria-label": `remove ${c.name}`, text: "✕" })));
      header.querySelector('[data-act="up"]').addEventListener("click", () => move(i, -1));
      header.querySelector('[data-act="down"]').addEventListener("click", () => move(i, 1));
      header.querySelector('[data-act="remove"]').addEventListener("click", () => {
        chain.splice(i, 1); render(); status.textContent = `Removed ${c.name}.`;
      });
      const params = el("textarea", { id: paramsId, rows: String(Math.min(10, c.paramsText.split("\n").length + 1)),
        spellcheck: "false", "aria-describedby": `${paramsId}-err` });
      params.value = c.paramsText;
      params.addEventListener("input", () => { c.paramsText = params.value; });
      const customer = el("div", { class: "customer", role: "group", "aria-label": `parameters of ${c.name} a customer may set` },
        el("span", { text: "Customer may set:" }));
      for (const p of props) {
        const id = `el-${i}-cust-${p}`;
        const box = el("input", { type: "checkbox", id, value: p });
        box.checked = c.customer_params.includes(p);
        box.addEventListener("change", () => {
          c.customer_params = box.checked ? [...c.customer_params, p] : c.customer_params.filter((x) => x !== p);
        });
        customer.append(el("label", { for: id }, box, document.createTextNode(` ${p}`)));
      }
      li.append(header,
        el("p", { class: "error", id: `${nameId}-err`, role: "alert", hidden: "" }),
        el("label", { for: paramsId, text: "Default parameters (JSON)" }), params,
        el("p", { class: "error", id: `${paramsId}-err`, role: "alert", hidden: "" }),
        customer,
        el("p", { class: "error", id: `el-${i}-cust-err`, role: "alert", hidden: "" }));
      li.addEventListener("dragstart", (ev) => {
        if (ev.target !== li) return;
        ev.dataTransfer.setData("text/x-ccpe-index", String(i)); li.classList.add("dragging");
      });
      li.addEventListener("dragend", () => li.classList.remove("dragging"));
      return li;
    }));
    if (!chain.length) chainBox.append(el("li", { class: "empty", text: "Drop functions here (LAN side first)." }));
  }

  function dropIndex(y) {
    const items = [...chainBox.querySelectorAll(".chain-el")];
    const after = items.findIndex((item) => { const r = item.getBoundingClientRect(); return y < r.top + r.height / 2; });
    return after === -1 ? items.length : after;
  }
  chainBox.addEventListener("dragover", (ev) => { ev.preventDefault(); chainBox.classList.add("over"); });
  chainBox.addEventListener("dragleave", () => chainBox.classList.remove("over"));
  chainBox.addEventListener("drop", (ev) => {
    ev.preventDefault(); chainBox.classList.remove("over");
    const at = dropIndex(ev.clientY);
    const kind = ev.dataTransfer.getData("text/x-ccpe-function");
    const from = ev.dataTransfer.getData("text/x-ccpe-index");
    if (kind) { add(kind, at); return; }
    if (from !== "") {
      const i = Number(from); const [item] = chain.splice(i, 1);
      chain.splice(at > i ? at - 1 : at, 0, item); render();
      status.textContent = `Moved ${item.name} to position ${(at > i ? at - 1 : at) + 1}.`;
    }
  });

  // ---- errors next to the fields
  function clearErrors() {
    document.querySelectorAll(".designer .error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    document.querySelectorAll(".chain-el.has-error").forEach((n) => n.classList.remove("has-error"));
    document.querySelectorAll('.designer [aria-invalid="true"]').forEach((n) => n.removeAttribute("aria-invalid"));
  }
  function show(id, text, field) {
    const p = document.getElementById(id); if (!p) return false;
    p.hidden = false; p.textContent = p.textContent ? `${p.textContent}; ${text}` : text;
    if (field) document.getElementById(field)?.setAttribute("aria-invalid", "true");
    p.closest(".chain-el")?.classList.add("has-error");
    return true;
  }
  function showProblems(problems) {
    for (const pr of problems) {
      const m = pr.name.match(/^body\.chain\[(\d+)\](?:\.(\w+))?(.*)$/);
      if (m) {
        const [, i, field, rest] = m; const where = rest ? `${rest.replace(/^\./, "")}: ` : "";
        if (field === "name" || field === "function") show(`el-${i}-name-err`, `${field}: ${pr.reason}`, `el-${i}-name`);
        else if (field === "customer_params") show(`el-${i}-cust-err`, pr.reason);
        else show(`el-${i}-params-err`, `${where}${pr.reason}`, `el-${i}-params`);
      } else if (pr.name === "body.name") show("d-name-err", pr.reason, "d-name");
      else show("d-chain-err", `${pr.name.replace(/^body\.?/, "") || "design"}: ${pr.reason}`);
    }
  }

  function collect() {
    const local = [];
    const out = chain.map((c, i) => {
      let params = {};
      try { params = c.paramsText.trim() ? JSON.parse(c.paramsText) : {}; }
      catch (e) { local.push({ name: `body.chain[${i}].params`, reason: `not valid JSON: ${e.message}` }); }
      return { name: c.name, function: c.function, params, customer_params: c.customer_params };
    });
    return { body: { name: nameInput.value, description: descInput.value, chain: out }, local };
  }

  async function call(url, body) {
    const resp = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json",
      "X-CSRF-Token": csrfToken() }, body: body ? JSON.stringify(body) : null, credentials: "same-origin" });
    let data = {}; try { data = await resp.json(); } catch (e) { /* not JSON */ }
    return { ok: resp.ok, status: resp.status, data };
  }

  async function validate() {
    clearErrors();
    const { body, local } = collect();
    if (local.length) { showProblems(local); status.textContent = "Fix the parameters marked in red."; return null; }
    const r = await call("/designer/validate", body);
    if (r.data.valid) { status.textContent = "Valid: the catalog would accept this chain."; return body; }
    showProblems(r.data.invalid_params || []);
    status.textContent = `Not valid: ${(r.data.invalid_params || []).length} problem(s), shown next to the fields.`;
    return null;
  }

  document.getElementById("d-validate").addEventListener("click", validate);
  const saveBtn = document.getElementById("d-save");
  const publishBtn = document.getElementById("d-publish");
  saveBtn?.addEventListener("click", async () => {
    const body = await validate(); if (!body) return;
    const r = await call("/designer/save", body);
    if (!r.ok) { showProblems(r.data.invalid_params || []); status.textContent = r.data.detail || "Not saved."; return; }
    status.textContent = `Saved ${r.data.name} version ${r.data.version}.`;
    publishBtn.disabled = false; publishBtn.dataset.design = r.data.id;
    publishBtn.textContent = `Publish v${r.data.version} to the catalog`;
    history.replaceState(null, "", `/designer?design=${r.data.id}`);
  });
  publishBtn?.addEventListener("click", async () => {
    const r = await call(`/designer/${publishBtn.dataset.design}/publish`);
    if (!r.ok) {
      showProblems(r.data.invalid_params || []);
      status.textContent = `Not published: ${r.data.detail || "see the fields"}`; return;
    }
    status.textContent = `Published to the catalog as ${r.data.name} version ${r.data.version}.`;
  });
  render();
})();
