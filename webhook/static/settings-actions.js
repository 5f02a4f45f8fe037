// The Settings page's switches and buttons, and the listeners that route every submit, click
// and change to the page's scripts (listed in settings.js); loaded last, it starts the page.
"use strict";

(() => {
  const S = window.Settings;
  const C = window.Console;
  if (!S || !C) return;
  const {page, sleep, reveal, markSaved, markDirty, submitPart, deriveMailboxes, initPicker,
    initMailboxes} = S;

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
    document.querySelectorAll("form[data-part]").forEach((form) => markSaved(form));
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
