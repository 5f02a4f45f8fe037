// The Settings page's choosers (settings.js explains the page's scripts): the group picker
// (`[data-picker]`: search Entra ID's groups, chosen ones as chips, their ids in a hidden
// input) and the shared mailboxes (`[data-mailboxes]`: the list from Entra ID, a phonebook
// name for each, the `mailboxes` list derived from the rows).
"use strict";

(() => {
  const S = window.Settings;
  const C = window.Console;
  if (!S || !C) return;
  const {el, NOT_CONNECTED} = S;

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
      if (!S.tenantKnown) { status.textContent = `${NOT_CONNECTED} its groups.`; return; }
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
    if (!S.tenantKnown) { status.textContent = `${NOT_CONNECTED} its shared mailboxes.`; return; }
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
    const chosenOnly = S.holds(form, "contacts.shared.range=mailboxes");
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

  Object.assign(S, {initPicker, initMailboxes, deriveMailboxes});
})();
