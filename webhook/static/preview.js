// The dry run of a save, before it happens (templates/console/settings_preview.html; the page's
// scripts are listed in settings.js): POST /api/settings/preview with the form's patch, then
// the run is polled (GET /api/runs/<id>) and its sentences and planned objects are shown
// before "Confirm and save".
"use strict";

(() => {
  const S = window.Settings;
  const C = window.Console;
  if (!S || !C) return;
  const {el} = S;
  const FINISHED = ["succeeded", "partial", "failed", "blocked"];
  const POLL_MS = 500;
  const OUTCOMES = ["created", "adopted", "updated", "released", "deleted", "held", "skipped", "failed"];
  const OUTCOME_TITLES = {created: "Created", adopted: "Adopted (matched by email)", updated: "Updated",
    released: "Released (kept on the PBX, no longer synced)", deleted: "Deleted",
    held: "Deletions held back (over the safety limit)", skipped: "Skipped", failed: "Failing"};
  const TARGET = {users: "Extension", groups: "Extension group", contacts: "On the PBX"};
  const PARTS = {users: "Users", groups: "Groups", contacts: "Contacts"};
  const HELD_PREFIX = /^more than safety\.max_deletions \(\d+\) deletions in one run;?\s*/;

  const dialog = document.getElementById("preview-dialog");
  if (!dialog) { S.preview = {open: () => {}}; return; }
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
    if (answer.status === 400) { close(); S.report(form, answer); return; }
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
      await S.sleep(POLL_MS);
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
    const limit = (S.merged(S.current.safety, patch.safety || {}) || {}).max_deletions;
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
    const answer = await S.save(form, patch);
    if (!answer.ok) close();
  });
  dialog.addEventListener("cancel", () => { generation += 1; });

  S.preview = {
    open(which, changes) {
      form = which;
      patch = changes;
      dialog.showModal();
      start();
    },
  };
})();
