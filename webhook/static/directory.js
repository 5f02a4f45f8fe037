// The directory pages' own script, beside console.js (which saves the presence forms):
//   /extensions — a "No change" choice is left out of the saved map (data-skip), "Back to the
//     default map" resets a form, and a saved form's summary row shows what was saved;
//   /provision — picking a user from the search results, and "Provision now" through
//     window.Console.api, its steps and result shown as a list.
// Everything it shows is set as text, never as HTML.
"use strict";

(() => {
  const STEPS = {read: "Read the user", range: "Sync range", match: "Match an extension",
    number: "Extension number", write: "Write to the PBX", link: "Link user and extension"};
  const OUTCOMES = {ok: "✓ done", skipped: "↷ skipped", failed: "✗ failed", info: "ℹ note"};
  const REFUSALS = {
    busy: "A sync is running now. Try again in a moment, when it has finished.",
    off: "User sync is off: turn it on in Settings before provisioning users.",
    paused: "User sync is paused: resume it on the Status page before provisioning users.",
    disabled: "The integration is disabled: enable it on the Status page first.",
    disconnected: "The integration is disconnected: connect Entra ID again in Settings first.",
    not_configured: "User sync has not been set up: save its settings first.",
    not_connected: "Entra ID is not connected: connect it in Settings first.",
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- /extensions -------------------------------------------------------------------------

  // The Teams status a select is for, in the words its label shows (webhook/labels.py).
  function teamsWords(select) {
    const label = select.id ? document.querySelector(`label[for="${CSS.escape(select.id)}"]`) : null;
    return label ? label.textContent.trim() : select.name.slice(4);
  }

  function statusWords(select) {
    const option = select.selectedOptions[0];
    return option ? option.textContent.trim() : "";
  }

  // A row's "changed" mark, and data-skip on an optional choice left at "No change".
  function refreshChoice(select) {
    if ("optional" in select.dataset) select.toggleAttribute("data-skip", select.value === "");
    const cell = select.closest("tr") && select.closest("tr").lastElementChild;
    if (!cell) return;
    const differs = select.value !== (select.dataset.default || "");
    let mark = cell.querySelector("[data-differs]");
    if (differs && !mark) {
      mark = el("span", "badge held", "changed");
      mark.setAttribute("data-differs", "");
      cell.append(" ", mark);
    } else if (!differs && mark) {
      mark.remove();
    }
  }

  // After a save, the summary row says what the form now holds (that is what was stored).
  function showSaved(form) {
    const details = form.closest("details");
    if (!details) return;
    const enabled = form.querySelector("input[name=enabled]").checked;
    const state = details.querySelector("[data-presence-state]");
    if (state) {
      state.textContent = enabled ? "Presence on" : "Presence off";
      state.className = "badge " + (enabled ? "on" : "off");
    }
    const changed = [...form.querySelectorAll("select[name^='map.']")]
      .filter((s) => s.value !== (s.dataset.default || ""))
      .map((s) => `${teamsWords(s)} → ${s.value ? statusWords(s) : "no change"}`);
    const diff = details.querySelector("[data-presence-diff]");
    if (diff) diff.textContent = changed.length ? changed.join("; ") : "Default map";
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches(".directory-presence select")) refreshChoice(event.target);
  });

  document.addEventListener("click", (event) => {
    const reset = event.target.closest(".directory-defaults");
    if (!reset) return;
    const form = reset.closest("form");
    form.querySelectorAll("select[name^='map.']").forEach((select) => {
      select.value = select.dataset.default || "";
      refreshChoice(select);
    });
    Console.say(form, "The default map is chosen: save to keep it.", true);
  });

  // console.js reports a save in the form's .form-result ("form-result ok").
  new MutationObserver((records) => {
    records.forEach((record) => {
      const slot = record.target;
      if (slot.classList && slot.matches(".directory-presence .form-result.ok")) {
        showSaved(slot.closest("form"));
      }
    });
  }).observe(document.documentElement, {attributes: true, attributeFilter: ["class"], subtree: true});

  // ---- /provision --------------------------------------------------------------------------

  let chosen = null;

  function choose(button) {
    document.querySelectorAll(".directory-pick[aria-pressed=true]")
      .forEach((b) => b.setAttribute("aria-pressed", "false"));
    button.setAttribute("aria-pressed", "true");
    chosen = {id: button.dataset.userId, name: button.dataset.name, upn: button.dataset.upn,
      extension: button.dataset.extension};
    const card = document.getElementById("directory-chosen");
    card.querySelector("[data-none]").hidden = true;
    card.querySelector("[data-some]").hidden = false;
    card.querySelector("[data-field=name]").textContent = chosen.name || "(no name)";
    card.querySelector("[data-field=upn]").textContent = chosen.upn || "—";
    card.querySelector("[data-field=extension]").textContent = chosen.extension
      ? `${chosen.extension} (linked: provisioning updates it)` : "none yet";
    Console.say(card, "", true);
    document.getElementById("directory-result").hidden = true;
    document.getElementById("directory-provision-now").focus();
  }

  function showResult(data) {
    const section = document.getElementById("directory-result");
    const result = data.result || {};
    const outcome = section.querySelector("[data-outcome]");
    outcome.textContent = result.outcome || "done";
    outcome.className = "badge " + (result.outcome || "");
    const summary = section.querySelector("[data-summary]");
    summary.textContent = result.summary || "";
    if (result.extension) {
      const link = el("a", "", "see it on Extensions");
      link.href = `/extensions?q=${encodeURIComponent(result.extension)}`;
      summary.append(" ", link);
    }
    const list = section.querySelector("[data-steps]");
    list.replaceChildren(...(data.steps || []).map((step) => {
      const item = el("li");
      item.dataset.step = step.step;
      item.dataset.outcome = step.outcome;
      item.append(el("span", `badge ${step.outcome}`, OUTCOMES[step.outcome] || step.outcome),
        el("span", "directory-step", STEPS[step.step] || step.step),
        el("span", "directory-step-detail", step.detail || ""));
      return item;
    }));
    section.hidden = false;
  }

  async function provision(button) {
    if (!chosen) return;
    const card = document.getElementById("directory-chosen");
    button.disabled = true;
    Console.say(card, `Provisioning ${chosen.name || chosen.upn}…`, true);
    let answer;
    try {
      answer = await Console.api("POST", "/api/provision", {user_id: chosen.id});
    } catch (e) {
      answer = {status: 0, ok: false, data: {error: "the server could not be reached"}};
    }
    button.disabled = false;
    const data = answer.data || {};
    if (answer.ok) {
      Console.say(card, "", true);
      showResult(data);
      const number = data.result && data.result.extension;
      if (number) {
        chosen.extension = number;
        card.querySelector("[data-field=extension]").textContent = number;
        const pick = document.querySelector(`.directory-pick[data-user-id="${CSS.escape(chosen.id)}"]`);
        if (pick) {
          pick.dataset.extension = number;
          const badge = pick.querySelector(".badge");
          if (badge) { badge.textContent = `extension ${number}`; badge.className = "badge on"; }
        }
      }
    } else if (answer.status === 401) {
      Console.say(card, "Your session has ended: sign in again.", false);
    } else if (answer.status === 409) {
      Console.say(card, `Not provisioned. ${REFUSALS[data.reason] || data.error || "It may not run now."}`, false);
    } else {
      Console.say(card, `Not provisioned: ${data.error || `the request failed (${answer.status})`}.`, false);
    }
  }

  document.addEventListener("click", (event) => {
    const pick = event.target.closest(".directory-pick");
    if (pick) { choose(pick); return; }
    const now = event.target.closest("#directory-provision-now");
    if (now) provision(now);
  });
})();
