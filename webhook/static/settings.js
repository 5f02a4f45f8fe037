// The Settings page (templates/console/settings*.html), on top of console.js (window.Console).
//
// Each part's form (`form[data-part]`) saves only its own part of the settings document with
// PATCH /api/settings. A save that turns users, groups or contacts on, or changes their rules
// while on, is previewed first: POST /api/settings/preview with the same patch, then the dry
// run is polled (GET /api/runs/<id>) and its sentences and planned objects are shown before
// "Confirm and save". Also here: options shown only when they apply (`data-when`), the group
// picker, the shared mailboxes, the time zone proposal, and the switches' confirmations.
"use strict";

(() => {
  const page = document.getElementById("settings-page");
  const C = window.Console;
  if (!page || !C) return;
  let current = JSON.parse(page.dataset.settings || "{}");
  const SYNC_PARTS = ["users", "groups", "contacts"];
  const FINISHED = ["succeeded", "partial", "failed", "blocked"];
  const POLL_MS = 500;
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
  const tenantKnown = ["connected", "disabled"].includes(page.dataset.state);
  const NOT_CONNECTED = "Connect the tenant first (under Connection) to choose";
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
      const after = merged(current[part], patch[part]);
      return partOn(part, after) && !same(after, current[part]);
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
  function markDirty(form) {
    const flag = form.querySelector(".unsaved");
    if (flag) flag.hidden = snapshot(form) === baseline.get(form);
  }

  // ---- the group picker --------------------------------------------------------------------
  function typeName(type) {
    return {microsoft365: "Microsoft 365", security: "security", other: "distribution"}[type] || type || "";
  }

  function initPicker(box) {
    const hidden = box.querySelector("input[type=hidden]");
    const chips = box.querySelector(".chips");
    const empty = box.querySelector(".chips-empty");
    const query = box.querySelector(".picker-query");
    const panel = box.querySelector(".picker-panel");
    const list = box.querySelector(".picker-results");
    const status = box.querySelector(".picker-status");
    const more = box.querySelector(".picker-more");
    let next = null;
    let timer = null;
    let asked = 0;
    const ids = () => { try { return JSON.parse(hidden.value || "[]"); } catch (e) { return []; } };

    function store(chosen) {
      hidden.value = JSON.stringify(chosen);
      empty.hidden = chosen.length > 0;
      hidden.dispatchEvent(new Event("change", {bubbles: true}));
    }
    function mark(id, chosen) {
      list.querySelectorAll(`.picker-option[data-id="${CSS.escape(id)}"]`).forEach((b) => {
        b.classList.toggle("chosen", chosen);
        b.setAttribute("aria-selected", String(chosen));
      });
    }
    function add(group) {
      if (ids().includes(group.id)) return;
      chips.append(el("li", {class: "chip", "data-id": group.id, title: group.id},
        el("span", {class: "chip-name", text: group.name || group.id}),
        group.type ? el("span", {class: "chip-type", text: typeName(group.type)}) : null,
        el("button", {type: "button", class: "chip-remove", "aria-label": `Remove ${group.name || group.id}`, text: "×"})));
      store([...ids(), group.id]);
      mark(group.id, true);
    }
    function remove(id) {
      chips.querySelectorAll(`.chip[data-id="${CSS.escape(id)}"]`).forEach((c) => c.remove());
      store(ids().filter((x) => x !== id));
      mark(id, false);
    }
    function option(group) {
      const chosen = ids().includes(group.id);
      return el("li", {role: "presentation"},
        el("button", {type: "button", class: `picker-option${chosen ? " chosen" : ""}`, role: "option",
          "aria-selected": String(chosen), "data-id": group.id, "data-name": group.name || "",
          "data-kind": group.type || "", title: group.id},
        el("span", {class: "option-name", text: group.name || group.id}),
        el("span", {class: "chip-type", text: typeName(group.type)}),
        el("span", {class: "option-added", text: "✓ added"})));
    }
    async function search(cursor) {
      const n = ++asked;
      const words = query.value.trim();
      const params = new URLSearchParams();
      if (words) params.set("search", words);
      if (cursor) params.set("cursor", cursor);
      if (!tenantKnown) { status.textContent = `${NOT_CONNECTED} its groups.`; return; }
      status.textContent = cursor ? "Loading more groups…" : "Searching Entra ID…";
      const answer = await C.api("GET", `/api/entra/groups?${params}`);
      if (n !== asked) return;  // a newer search went out meanwhile
      if (!cursor) list.replaceChildren();
      if (!answer.ok) {
        next = null;
        more.hidden = true;
        status.textContent = answer.status === 409
          ? `${NOT_CONNECTED} its groups.`
          : (answer.data.error || `Entra ID could not be read (${answer.status}).`);
        return;
      }
      (answer.data.groups || []).forEach((g) => list.append(option(g)));
      next = answer.data.next || null;
      more.hidden = !next;
      const shown = list.children.length;
      status.textContent = shown
        ? `${shown} group${shown === 1 ? "" : "s"}${next ? ", more below" : ""}: choose to add.`
        : (words ? `No group name starts with “${words}”.` : "No group in the directory.");
    }
    function open() { panel.hidden = false; query.setAttribute("aria-expanded", "true"); }
    function close() { panel.hidden = true; query.setAttribute("aria-expanded", "false"); }
    const options = () => [...list.querySelectorAll(".picker-option")];

    chips.addEventListener("click", (event) => {
      const button = event.target.closest(".chip-remove");
      if (button) remove(button.closest(".chip").dataset.id);
    });
    list.addEventListener("click", (event) => {
      const button = event.target.closest(".picker-option");
      if (!button) return;
      if (button.classList.contains("chosen")) remove(button.dataset.id);
      else add({id: button.dataset.id, name: button.dataset.name, type: button.dataset.kind});
    });
    list.addEventListener("keydown", (event) => {
      const all = options();
      const at = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && at < all.length - 1) { event.preventDefault(); all[at + 1].focus(); }
      if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? all[at - 1] : query).focus(); }
      if (event.key === "Escape") { event.preventDefault(); close(); query.focus(); }
    });
    more.addEventListener("click", () => { if (next) search(next); });
    query.addEventListener("input", () => {
      open();
      clearTimeout(timer);
      timer = setTimeout(() => search(null), 250);
    });
    query.addEventListener("focus", () => { open(); if (!list.children.length) search(null); });
    query.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {  // never submits the form: adds the first group found
        event.preventDefault();
        const first = options().find((b) => !b.classList.contains("chosen"));
        if (first) first.click();
      } else if (event.key === "ArrowDown" && options().length) {
        event.preventDefault();
        options()[0].focus();
      } else if (event.key === "Escape") {
        close();
      }
    });
    document.addEventListener("click", (event) => { if (!box.contains(event.target)) close(); });
  }

  // ---- shared mailboxes: the list from Entra ID, a phonebook name for each --------------------
  function mailboxRow(mail, name, book, picked) {
    return el("tr", {"data-mail": mail, "data-name": name || mail},
      el("td", {class: "mb-pick-cell"}, el("input", {type: "checkbox", class: "mb-pick", checked: picked,
        "aria-label": `Sync ${name || mail}`})),
      el("td", {}, el("span", {class: "mb-name", text: name || mail}), " ",
        name ? el("span", {class: "hint", text: mail}) : null),
      el("td", {}, el("input", {type: "text", class: "mb-book", value: book, placeholder: name || mail,
        autocomplete: "off", "aria-label": `Phonebook for ${name || mail}`}),
      el("span", {class: "field-error mb-error"})));
  }

  async function initMailboxes(box) {
    const tbody = box.querySelector("tbody");
    const status = box.querySelector(".mailboxes-status");
    if (!tenantKnown) { status.textContent = `${NOT_CONNECTED} its shared mailboxes.`; return; }
    const answer = await C.api("GET", "/api/entra/shared-mailboxes");
    if (!answer.ok) {
      status.textContent = answer.status === 409
        ? `${NOT_CONNECTED} its shared mailboxes.`
        : (answer.data.error || `The shared mailboxes could not be read (${answer.status}).`);
      return;
    }
    const rows = new Map([...tbody.rows].map((r) => [r.dataset.mail.toLowerCase(), r]));
    (answer.data.mailboxes || []).forEach((m) => {
      if (!m.mail) return;
      const row = rows.get(m.mail.toLowerCase());
      if (row) {  // a saved one: show its name too
        row.dataset.name = m.name || m.mail;
        row.cells[1].replaceChildren(el("span", {class: "mb-name", text: m.name || m.mail}), " ",
          el("span", {class: "hint", text: m.mail}));
        row.querySelector(".mb-book").placeholder = m.name || m.mail;
      } else {
        tbody.append(mailboxRow(m.mail, m.name, "", false));
      }
    });
    status.textContent = tbody.rows.length ? "" : "This tenant has no shared mailbox.";
  }

  // The `mailboxes` list: the ticked ones (range "mailboxes"), or those named elsewhere
  // ("all"); each row's error slot follows its index in that list.
  function deriveMailboxes(form) {
    const box = form.querySelector("[data-mailboxes]");
    if (!box) return;
    const chosenOnly = holds(form, "contacts.shared.range=mailboxes");
    const list = [];
    [...box.querySelectorAll("tbody tr")].forEach((row) => {
      const book = row.querySelector(".mb-book").value.trim();
      const slot = row.querySelector(".mb-error");
      const kept = chosenOnly ? row.querySelector(".mb-pick").checked : Boolean(book);
      if (kept) {
        slot.dataset.for = `contacts.shared.mailboxes.${list.length}`;
        list.push({mailbox: row.dataset.mail, phonebook: book || row.dataset.name || row.dataset.mail});
      } else {
        delete slot.dataset.for;
      }
    });
    box.querySelector("input[type=hidden]").value = JSON.stringify(list);
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
      current = answer.data.settings || current;
      baseline.set(form, snapshot(form));
      const run = answer.data.run_id;  // the first sync that this save started (U10, G5)
      window.location.assign(run ? `/runs/${encodeURIComponent(run)}`
        : `/settings?saved=${encodeURIComponent(form.dataset.part)}#${form.dataset.part}`);
    } else {
      report(form, answer);
    }
    return answer;
  }

  function patchOf(form) {
    if (!("json" in form.dataset)) { deriveMailboxes(form); return C.serialize(form); }
    const text = form.querySelector("textarea").value;
    const patch = JSON.parse(text);
    if (!isObject(patch)) throw new Error("the settings document is a JSON object");
    return patch;
  }

  async function submitPart(form) {
    let patch;
    try { patch = patchOf(form); } catch (e) { C.say(form, `Not valid JSON: ${e.message}`, false); return; }
    C.clearErrors(document);
    C.say(form, "", true);
    if (needsPreview(patch)) preview.open(form, patch);
    else await save(form, patch);
  }

  // ---- the preview -------------------------------------------------------------------------
  const OUTCOMES = ["created", "adopted", "updated", "released", "deleted", "held", "skipped", "failed"];
  const OUTCOME_TITLES = {created: "Created", adopted: "Adopted (matched by email)", updated: "Updated",
    released: "Released (kept on the PBX, no longer synced)", deleted: "Deleted",
    held: "Deletions held back (over the safety limit)", skipped: "Skipped", failed: "Failing"};
  const TARGET = {users: "Extension", groups: "Extension group", contacts: "On the PBX"};
  const PARTS = {users: "Users", groups: "Groups", contacts: "Contacts"};
  const HELD_PREFIX = /^more than safety\.max_deletions \(\d+\) deletions in one run;?\s*/;

  const preview = (() => {
    const dialog = document.getElementById("preview-dialog");
    if (!dialog) return {open: () => {}};
    const $ = (css) => dialog.querySelector(css);
    const buttons = {cancel: $(".preview-cancel"), retry: $(".preview-retry"), confirm: $(".preview-confirm")};
    let form = null;
    let patch = null;
    let generation = 0;

    function show(stage) {
      $(".preview-waiting").hidden = stage !== "waiting";
      $(".preview-failed").hidden = stage !== "failed";
      $(".preview-result").hidden = stage !== "result";
      buttons.retry.hidden = stage !== "failed";
      buttons.confirm.hidden = stage !== "result";
      buttons.confirm.disabled = false;
      $(".preview-answer").textContent = "";
    }

    function fail(text) {
      $(".preview-reason").textContent = text;
      show("failed");
      buttons.retry.focus();
    }

    async function start() {
      const n = ++generation;
      show("waiting");
      $(".preview-progress").textContent = "Reading Entra ID and the PBX…";
      const answer = await C.api("POST", "/api/settings/preview", patch);
      if (n !== generation) return;
      if (answer.status === 400) { close(); report(form, answer); return; }
      if (answer.status === 401) { fail("Your session has ended: sign in again."); return; }
      if (!answer.ok || !answer.data.run_id) {
        fail(`The preview could not start: ${answer.data.error || `the server answered ${answer.status}`}.`);
        return;
      }
      await poll(n, answer.data.run_id);
    }

    async function poll(n, runId) {
      let misses = 0;
      while (n === generation) {
        const answer = await C.api("GET", `/api/runs/${encodeURIComponent(runId)}`);
        if (n !== generation) return;
        if (answer.ok && FINISHED.includes(answer.data.state)) { await finished(n, answer.data); return; }
        if (!answer.ok && ++misses > 10) { fail(`The preview's run could not be read (${answer.status}).`); return; }
        const run = answer.data || {};
        const progress = run.progress || {};
        $(".preview-progress").textContent = run.state === "queued"
          ? "Waiting for a worker…"
          : (progress.message || progress.step || "Reading Entra ID and the PBX…");
        await sleep(POLL_MS);
      }
    }

    async function finished(n, run) {
      if (run.state === "failed") {
        fail(`The preview failed: ${run.error || run.summary || "no reason was given"}.`);
        return;
      }
      const listed = await C.api("GET", `/api/runs/${encodeURIComponent(run.id)}/objects?limit=200`);
      if (n !== generation) return;
      const rows = listed.ok ? (listed.data.objects || listed.data.rows || listed.data.items || []) : [];
      const sentences = (run.preview && run.preview.length) ? run.preview : [run.summary || "Nothing would change."];
      $(".preview-sentences").replaceChildren(...sentences.map((s) => el("li", {text: s})));
      const held = $(".preview-held");
      const limit = (merged(current.safety, patch.safety || {}) || {}).max_deletions;
      held.hidden = run.state !== "blocked";
      held.textContent = `More deletions than the safety limit (${limit} in one sync) are planned: `
        + "they are held back. Confirming saves the settings; the sync deletes none of them until "
        + "you raise the limit under Safety or run a sync that allows them.";
      renderObjects(rows);
      const total = Math.max(run.objects_total || 0, listed.data.total || 0, rows.length);
      const more = $(".preview-more");
      more.hidden = total <= rows.length;
      more.replaceChildren(`Showing the first ${rows.length} of ${total} objects; `,
        el("a", {href: `/runs/${encodeURIComponent(run.id)}`, text: "every one is on the preview's run page"}), ".");
      show("result");
      buttons.confirm.focus();
    }

    function renderObjects(rows) {
      const parts = new Set(rows.map((r) => r.part));
      const groups = OUTCOMES.map((o) => [o, rows.filter((r) => r.outcome === o)]).filter(([, list]) => list.length);
      const known = new Set(OUTCOMES);
      const others = rows.filter((r) => !known.has(r.outcome));
      if (others.length) groups.push(["other", others]);
      $(".preview-objects").replaceChildren(...groups.map(([outcome, list]) => {
        // the heading says why a deletion is held; each row says what it would delete it for
        const reasonOf = (r) => String(r.reason || "").replace(HELD_PREFIX, "");
        const why = list.some(reasonOf);  // a column of reasons only where one is given
        const head = el("tr", {}, parts.size > 1 ? el("th", {text: "Part"}) : null, el("th", {text: "Name"}),
          el("th", {text: parts.size === 1 ? TARGET[[...parts][0]] || "On the PBX" : "On the PBX"}),
          why ? el("th", {text: "Why"}) : null);
        const body = list.map((r) => el("tr", {"data-object-id": r.object_id || ""},
          parts.size > 1 ? el("td", {text: PARTS[r.part] || r.part}) : null,
          el("td", {text: r.name || "—", title: r.object_id || ""}),
          el("td", {class: "number", text: r.extension || "—"}),
          why ? el("td", {class: "muted", text: reasonOf(r)}) : null));
        return el("details", {class: `outcome ${outcome}`, open: list.length <= 25 || groups.length === 1},
          el("summary", {}, el("span", {class: `badge ${outcome}`, text: outcome}), " ",
            el("strong", {text: `${OUTCOME_TITLES[outcome] || outcome}`}), ` · ${list.length}`),
          el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
      }));
      if (!groups.length) {
        $(".preview-objects").replaceChildren(el("p", {class: "hint", text: "No object would change."}));
      }
    }

    function close() {
      generation += 1;
      if (dialog.open) dialog.close();
    }

    buttons.cancel.addEventListener("click", () => { close(); C.say(form, "Cancelled: nothing was saved.", false); });
    buttons.retry.addEventListener("click", () => start());
    buttons.confirm.addEventListener("click", async () => {
      buttons.confirm.disabled = true;
      $(".preview-answer").textContent = "Saving…";
      const answer = await save(form, patch);
      if (!answer.ok) close();
    });
    dialog.addEventListener("cancel", () => { generation += 1; });

    return {
      open(which, changes) {
        form = which;
        patch = changes;
        dialog.showModal();
        start();
      },
    };
  })();

  // ---- switches, authorization, little helpers ---------------------------------------------
  async function submitSwitch(form) {
    const answer = await C.api("POST", form.dataset.switch, C.serialize(form));
    if (!answer.ok) {
      C.say(form, C.showErrors(form, answer.data) || `The request failed (${answer.status}).`, false);
      return;
    }
    const run = answer.data.run_id;
    window.location.assign(run ? `/runs/${encodeURIComponent(run)}` : window.location.pathname);
  }

  async function authorize(button) {
    const form = button.closest("form");
    button.disabled = true;
    const answer = await C.api("POST", "/api/presence/authorization");
    button.disabled = false;
    if (answer.ok && answer.data.auth_uri) window.location.assign(answer.data.auth_uri);
    else C.say(form, answer.data.error || `The request failed (${answer.status}).`, false);
  }

  async function checkNow(button) {
    const said = button.parentElement.querySelector(".check-result");
    const before = await C.api("GET", "/api/status");
    const was = ((before.data || {}).connection || {}).checked_at;
    const asked = await C.api("POST", "/api/health/check");
    if (!asked.ok) { said.textContent = asked.data.error || `The check could not start (${asked.status}).`; return; }
    button.disabled = true;
    said.textContent = "Checking…";
    for (let i = 0; i < 30; i += 1) {
      await sleep(1000);
      const now = await C.api("GET", "/api/status");
      if (((now.data || {}).connection || {}).checked_at !== was) { window.location.reload(); return; }
    }
    button.disabled = false;
    said.textContent = "The check is still on its way: reload this page in a minute.";
  }

  async function copy(button) {
    const text = document.getElementById(button.dataset.copy).textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  }

  function proposeZone() {
    const input = document.getElementById("schedule-timezone");
    if (!input || input.value || input.matches(":disabled")) return;
    const note = input.form.querySelector(".zone-proposal");
    const pbx = input.dataset.pbxZone;
    let browser = "";
    try { browser = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { browser = ""; }
    const zone = pbx || browser;
    if (!zone) return;
    input.value = zone;
    note.hidden = false;
    note.textContent = pbx
      ? `Proposed: ${zone}, the PBX's own time zone. Save to use it.`
      : `Proposed from this browser: ${zone}. Check that it is the PBX's time zone, then save.`;
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("form[data-part]")) { event.preventDefault(); submitPart(form); }
    else if (form.matches("form[data-switch]")) { event.preventDefault(); submitSwitch(form); }
    else if (form.matches("form[data-inert]")) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.open) document.getElementById(target.dataset.open).showModal();
    else if ("close" in target.dataset) target.closest("dialog").close();
    else if ("authorize" in target.dataset) authorize(target);
    else if ("check" in target.dataset) checkNow(target);
    else if (target.dataset.copy) copy(target);
    else if (target.dataset.appendLine) {
      const area = document.getElementById(target.dataset.appendLine);
      const lines = area.value.split("\n").map((l) => l.trim()).filter(Boolean);
      if (!lines.includes(target.dataset.value)) area.value = [...lines, target.dataset.value].join("\n");
      area.dispatchEvent(new Event("input", {bubbles: true}));
    }
  });

  function changed(event) {
    const form = event.target.form || event.target.closest("form");
    if (!form) return;
    if (event.target.matches("[data-expiry-for]")) {
      const day = event.target.value;
      document.getElementById(event.target.dataset.expiryFor).value = day ? `${day}T23:59:59Z` : "";
    }
    reveal(form);
    if (form.matches("form[data-part]")) {
      if (!("json" in form.dataset)) deriveMailboxes(form);
      markDirty(form);
    }
  }
  document.addEventListener("change", changed);
  document.addEventListener("input", changed);

  function start() {
    document.querySelectorAll("form").forEach(reveal);
    document.querySelectorAll("[data-picker]").forEach(initPicker);
    document.querySelectorAll("form[data-part]").forEach((form) => baseline.set(form, snapshot(form)));
    document.querySelectorAll("[data-mailboxes]").forEach(initMailboxes);
    proposeZone();
    const saved = new URLSearchParams(window.location.search).get("saved");
    const form = saved && document.querySelector(`form[data-part="${CSS.escape(saved)}"]`);
    if (form) {
      const folded = form.closest("details");
      if (folded) folded.open = true;
      C.say(form, "Saved.", true);
      window.history.replaceState(null, "", `/settings${window.location.hash}`);
    }
    page.classList.add("ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
