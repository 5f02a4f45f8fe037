// The Settings page (templates/console/settings*.html), on top of console.js (window.Console).
//
// Each part's form (`form[data-part]`) saves only its own part of the settings document with
// PATCH /api/settings. A save that turns users, groups or contacts on, or changes their rules
// while on, is previewed first (preview.js) before "Confirm and save". Also here: options
// shown only when they apply (`data-when`) and the forms' unsaved changes.
//
// The page's scripts, loaded in this order, share what they need through window.Settings:
//   settings.js          the document, what a patch changes, `data-when`, unsaved changes, saving
//   pickers.js           the group picker and the shared mailboxes
//   preview.js           the dry run of a save, polled and shown before it is confirmed
//   settings-actions.js  switches, buttons, the zone proposal, every event; starts the page
"use strict";

(() => {
  const page = document.getElementById("settings-page");
  const C = window.Console;
  if (!page || !C) return;
  const S = {page, current: JSON.parse(page.dataset.settings || "{}")};
  window.Settings = S;
  const SYNC_PARTS = ["users", "groups", "contacts"];
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "title") {
        node.setAttribute(key, value);
      } else node[key] = value;
    });
    children.filter((c) => c !== null && c !== undefined).forEach((c) => node.append(c));
    return node;
  }

  // ---- the document: what a patch changes -------------------------------------------------
  function merged(base, patch) {
    if (!isObject(base) || !isObject(patch)) return patch;
    const out = {...base};
    Object.entries(patch).forEach(([key, value]) => { out[key] = key in base ? merged(base[key], value) : value; });
    return out;
  }

  function canonical(value) {
    if (Array.isArray(value)) return value.map(canonical);
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }

  const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

  function partOn(part, rules) {
    if (!isObject(rules)) return false;
    if (part === "contacts") {
      return Boolean((rules.personal || {}).enabled === true || (rules.shared || {}).enabled === true);
    }
    return rules.enabled === true;
  }

  // A sync part turned on, or its rules changed while it is on: show the dry run first.
  function needsPreview(patch) {
    return SYNC_PARTS.some((part) => {
      if (!isObject(patch[part])) return false;
      const after = merged(S.current[part], patch[part]);
      return partOn(part, after) && !same(after, S.current[part]);
    });
  }

  // ---- options shown only when they apply --------------------------------------------------
  function holds(form, condition) {
    if (condition.includes("|")) return condition.split("|").some((c) => holds(form, c));
    if (condition.startsWith("!")) return !holds(form, condition.slice(1));
    const [name, wanted] = condition.split("=");
    const inputs = [...form.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
    if (!inputs.length) return false;
    if (wanted === undefined) return inputs.some((i) => (i.type === "checkbox" ? i.checked : Boolean(i.value)));
    const chosen = inputs.find((i) => i.type !== "radio" || i.checked);
    return Boolean(chosen) && chosen.value === wanted;
  }

  function reveal(form) {
    form.querySelectorAll("[data-when]").forEach((node) => { node.hidden = !holds(form, node.dataset.when); });
    const box = form.querySelector("[data-mailboxes]");
    if (box) box.classList.toggle("all", holds(form, "contacts.shared.range=all"));
  }

  // ---- unsaved changes ---------------------------------------------------------------------
  const baseline = new WeakMap();
  function snapshot(form) {
    if ("json" in form.dataset) return form.querySelector("textarea").value;
    try { return JSON.stringify(canonical(C.serialize(form))); } catch (e) { return ""; }
  }
  // What the form holds now is what is saved: no longer an unsaved change.
  const markSaved = (form) => baseline.set(form, snapshot(form));
  function markDirty(form) {
    const flag = form.querySelector(".unsaved");
    if (flag) flag.hidden = snapshot(form) === baseline.get(form);
  }


  // ---- saving ------------------------------------------------------------------------------
  function sectionTitle(node) {
    const heading = node.closest("section") && node.closest("section").querySelector("h2");
    return heading ? heading.firstChild.textContent.trim() : "";
  }

  // Field errors next to their fields (in any section: the time zone a sync part needs is
  // under Schedule), and a sentence in the form that was saved.
  function report(form, answer) {
    if (answer.status === 401) { C.say(form, "Your session has ended: sign in again.", false); return; }
    const fields = answer.data.fields || {};
    const rest = C.showErrors(document, {fields});
    if (!Object.keys(fields).length) {
      C.say(form, answer.data.error || `The request failed (${answer.status}).`, false);
      return;
    }
    const elsewhere = new Set();
    let first = null;
    document.querySelectorAll(".field-error").forEach((slot) => {
      if (!slot.textContent) return;
      if (!form.contains(slot)) elsewhere.add(sectionTitle(slot));
      first = first || slot;
    });
    const where = elsewhere.size ? ` (also under ${[...elsewhere].join(", ")})` : "";
    C.say(form, `Not saved: correct the fields marked in red${where}.${rest ? ` ${rest}` : ""}`, false);
    const invalid = form.querySelector("[aria-invalid=true]");
    if (invalid && !invalid.matches("[type=hidden]")) invalid.focus();
    else if (first) first.scrollIntoView({block: "center"});
  }

  function busy(form, on) {
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = on; });
    form.classList.toggle("busy", on);
  }

  async function save(form, patch) {
    busy(form, true);
    const answer = await C.api("PATCH", "/api/settings", patch);
    busy(form, false);
    if (answer.ok) {
      S.current = answer.data.settings || S.current;
      markSaved(form);
      const run = answer.data.run_id;  // the first sync that this save started (U10, G5)
      window.location.assign(run ? `/runs/${encodeURIComponent(run)}`
        : `/settings?saved=${encodeURIComponent(form.dataset.part)}#${form.dataset.part}`);
    } else {
      report(form, answer);
    }
    return answer;
  }

  function patchOf(form) {
    if (!("json" in form.dataset)) { S.deriveMailboxes(form); return C.serialize(form); }
    const text = form.querySelector("textarea").value;
    const whole = JSON.parse(text);
    if (!isObject(whole)) throw new Error("the settings document is a JSON object");
    // only the parts that changed: a paused part left as it was does not refuse the save
    const patch = Object.fromEntries(Object.entries(whole)
      .filter(([part, value]) => !same(value, S.current[part])));
    return Object.keys(patch).length ? patch : whole;
  }

  async function submitPart(form) {
    let patch;
    try { patch = patchOf(form); } catch (e) { C.say(form, `Not valid JSON: ${e.message}`, false); return; }
    C.clearErrors(document);
    C.say(form, "", true);
    if (needsPreview(patch)) S.preview.open(form, patch);
    else await save(form, patch);
  }

  Object.assign(S, {
    el, merged, holds, reveal, markSaved, markDirty, report, save, submitPart,
    sleep: (ms) => new Promise((resolve) => { setTimeout(resolve, ms); }),
    tenantKnown: ["connected", "disabled"].includes(page.dataset.state),
    NOT_CONNECTED: "Connect the tenant first (under Connection) to choose",
  });
})();
