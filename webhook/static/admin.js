// The admin page: a thin client of the admin JSON API. The admin token is posted once to
// /api/session, which answers with an HttpOnly cookie; no script keeps the token. With an
// administrator's sign-in session no token is needed. X-Requested-With goes with every call:
// the API takes a cookie only with it (no CSRF).
"use strict";
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const headers = {"X-Requested-With": "fetch"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, credentials: "same-origin",
                                      body: body === undefined ? undefined : JSON.stringify(body)});
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (response.status === 401) { $("login").hidden = false; $("main").hidden = true; }
  return {status: response.status, data};
}

function say(id, text, ok) {
  const el = $(id);
  el.textContent = text;
  el.className = ok ? "ok" : "bad";
}

function fieldErrors(data) {
  if (!data.fields) return data.error || data.message || data.reason || "";
  return Object.entries(data.fields).map(([k, v]) => k + ": " + v.join(", ")).join("; ");
}

async function refresh() {
  const {status, data} = await api("GET", "/api/status");
  if (status !== 200) return;
  $("login").hidden = true; $("main").hidden = false;
  const c = data.connection || {};
  $("state").textContent = data.state;
  $("check").textContent = c.status === "connected" ? "Connected" + (c.warning ? " — " + c.warning : "")
    : (c.status || "") + (c.reason ? " — " + c.reason : "");
  const setup = data.setup || {};
  $("redirect").textContent = (setup.redirect_uris || []).join(", ") || "set PUBLIC_BASE_URL";
  $("consent").innerHTML = "";
  if (setup.admin_consent_url) {
    const a = document.createElement("a");
    a.href = setup.admin_consent_url; a.textContent = "Grant admin consent"; a.target = "_blank";
    $("consent").appendChild(a);
  }
  $("parts").textContent =
    `users: ${data.users.enabled ? "on" : "off"}${data.users.paused ? " (paused)" : ""}, ` +
    `${data.users.synced} synced, ${data.users.pending_changes} changes pending · ` +
    `groups: ${data.groups.enabled ? "on" : "off"}${data.groups.paused ? " (paused)" : ""}, ` +
    `${data.groups.synced} synced · contacts: ${data.contacts.synced} in ` +
    `${data.contacts.phonebooks} phonebooks · subscriptions: ${data.subscriptions.length}`;
  showHealth(data);
  const presence = (data.presence || {}).notifications || {};
  const sub = (data.subscriptions || []).find((s) => s.covers !== undefined);
  $("presence-status").textContent = presence.authorized
    ? `Authorized by ${presence.account} on ${presence.authorized_at}` +
      (sub ? ` · subscription covers ${sub.covers} users until ${sub.expires_at}` : "") +
      (presence.problem ? ` · ${presence.problem}` : "")
    : "Not authorized: presence is polled for everyone.";
  $("presence-status").className = presence.problem ? "bad" : "";
  const runs = await api("GET", "/api/runs?limit=20");
  const rows = $("runs");
  rows.innerHTML = "";
  for (const run of runs.data.runs || []) {
    const tr = document.createElement("tr");
    for (const text of [run.finished_at || run.started_at || "", run.scope, run.trigger,
                        run.state, run.summary]) {
      const td = document.createElement("td"); td.textContent = text || ""; tr.appendChild(td);
    }
    tr.onclick = async () => {
      const detail = await api("GET", "/api/runs/" + run.id);
      $("run-detail").textContent = JSON.stringify(detail.data, null, 2);
    };
    rows.appendChild(tr);
  }
}

let groupCursor = null;

async function findGroups(more) {
  const params = new URLSearchParams();
  if (more && groupCursor) {
    params.set("cursor", groupCursor);
  } else {
    $("group-rows").innerHTML = "";
    const search = $("group-search").value.trim();
    if (search) params.set("search", search);
  }
  const {status, data} = await api("GET", "/api/entra/groups?" + params);
  if (status !== 200) { say("group-result", fieldErrors(data), false); return; }
  for (const group of data.groups) {
    $("group-rows").appendChild(row([group.name, group.type, group.id], () => addGroup(group),
                                    "Add"));
  }
  groupCursor = data.next;
  $("group-more").hidden = !data.next;
  say("group-result", `${$("group-rows").children.length} groups shown`, true);
}

function addToSettings(dotted, entry, same, resultId, name) {
  // puts `entry` in the list at `dotted` of the settings document being edited, once
  let doc;
  try { doc = JSON.parse($("settings").value); } catch (e) {
    say(resultId, "the settings document is not valid JSON: fix it first", false); return;
  }
  const list = dotted.split(".").reduce((node, key) => node[key], doc);
  if (!list.some(same)) list.push(entry);
  $("settings").value = JSON.stringify(doc, null, 2);
  say(resultId, `${name} added to ${dotted}: save the settings to apply it`, true);
}

function addGroup(group) {
  addToSettings($("group-target").value, group.id, (id) => id === group.id, "group-result",
                group.name);
}

function row(texts, action, label) {
  const tr = document.createElement("tr");
  for (const text of texts) {
    const td = document.createElement("td"); td.textContent = text || ""; tr.appendChild(td);
  }
  const button = document.createElement("button");
  button.textContent = label;
  button.onclick = action;
  tr.appendChild(button);
  return tr;
}

async function listMailboxes() {
  const {status, data} = await api("GET", "/api/entra/shared-mailboxes");
  if (status !== 200) { say("mailbox-result", fieldErrors(data), false); return; }
  $("mailbox-rows").innerHTML = "";
  for (const box of data.mailboxes) {
    $("mailbox-rows").appendChild(row([box.name, box.mail], () => addToSettings(
      "contacts.shared.mailboxes", {mailbox: box.mail, phonebook: box.name},
      (m) => (m.mailbox || "").toLowerCase() === box.mail.toLowerCase(), "mailbox-result",
      box.name), "Add"));
  }
  say("mailbox-result", `${data.mailboxes.length} shared mailboxes`, true);
}

let pbxZone = null;  // the PBX's own time zone, when its API tells it (status health.pbx)

async function loadSettings() {
  const {status, data} = await api("GET", "/api/settings");
  if (status !== 200) return;
  // M1 runs in the PBX's time zone and has no default: propose the PBX's when it is known,
  // else this browser's, for the administrator to check before the first save
  if (data.schedule && !data.schedule.timezone) {
    const current = await api("GET", "/api/status");
    pbxZone = (((current.data || {}).health || {}).pbx || {}).timezone || pbxZone;
    data.schedule.timezone = pbxZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
    say("settings-result", `schedule.timezone proposed: ${data.schedule.timezone} (` +
        (pbxZone ? "the PBX's" : "this browser's") + "); it must be the PBX's time zone", true);
  }
  $("settings").value = JSON.stringify(data, null, 2);
}

function showHealth(data) {
  // one line per part and the PBX: its problems, or OK; and when the reconciliation runs
  const lines = Object.entries(data.health || {}).map(([name, e]) =>
    `${name}: ` + (e.on === false ? "off" : e.ok ? "OK" : e.problems.join("; ")) +
    (e.stale ? " (stale)" : ""));
  const schedule = data.schedule || {};
  lines.push(schedule.scheduled ? `reconciliation: next at ${schedule.next_run}`
             : schedule.message || "");
  $("health").textContent = lines.join("\n");
  $("health").className = Object.values(data.health || {}).some((e) => !e.ok) ? "bad" : "ok";
  pbxZone = ((data.health || {}).pbx || {}).timezone || null;
}

document.addEventListener("DOMContentLoaded", () => {
  $("use-token").onclick = async () => {
    const token = $("token").value;
    $("token").value = "";
    if (await useToken(token)) start();
  };
  $("sign-out").onclick = async () => {
    await api("DELETE", "/api/session");
    $("login").hidden = false; $("main").hidden = true;
  };
  $("connect").onsubmit = async (e) => {
    e.preventDefault();
    const body = {tenant_id: $("tenant").value, client_id: $("client").value,
                  client_secret: $("secret").value};
    if ($("expires").value) body.client_secret_expires_at = $("expires").value + "T00:00:00Z";
    const {status, data} = await api("PUT", "/api/connection", body);
    $("secret").value = "";
    say("connect-result", status === 200 ? "Connected." : fieldErrors(data), status === 200);
    refresh();
  };
  $("rotate").onsubmit = async (e) => {
    e.preventDefault();
    const body = {client_secret: $("new-secret").value};
    if ($("new-expires").value) body.client_secret_expires_at = $("new-expires").value + "T00:00:00Z";
    const {status, data} = await api("POST", "/api/connection/secret", body);
    $("new-secret").value = "";
    say("rotate-result", status === 200 ? "The new secret is in use." : fieldErrors(data),
        status === 200);
  };
  $("save-settings").onclick = async () => {
    let patch;
    try { patch = JSON.parse($("settings").value); }
    catch (e) { say("settings-result", "Not JSON: " + e.message, false); return; }
    const {status, data} = await api("PATCH", "/api/settings", patch);
    say("settings-result", status === 200 ? "Saved." + (data.run_id ? " A first sync runs." : "")
        : fieldErrors(data), status === 200);
    refresh();
  };
  for (const scope of ["all", "users", "groups", "contacts"]) {
    $("sync-" + scope).onclick = async () => {
      const {status, data} = await api("POST", "/api/sync", {scope, dry_run: $("dry-run").checked});
      say("sync-result", status === 202 ? "Queued: run " + data.run_id : fieldErrors(data),
          status === 202);
      setTimeout(refresh, 1500);
    };
  }
  $("health-check").onclick = async () => {
    const {status, data} = await api("POST", "/api/health/check");
    say("health-result", status === 202 ? (data.queued ? "Checking…" : "A check is already on "
        + "its way.") : fieldErrors(data), status === 202);
    setTimeout(refresh, 3000);
  };
  $("group-find").onclick = () => findGroups(false);
  $("group-more").onclick = () => findGroups(true);
  $("mailbox-list").onclick = listMailboxes;
  $("presence-authorize").onclick = async () => {
    const {status, data} = await api("POST", "/api/presence/authorization");
    if (status === 200) { location.href = data.auth_uri; return; }
    say("presence-result", fieldErrors(data), false);
  };
  $("presence-revoke").onclick = async () => {
    if (!confirm("Revoke presence notifications?")) return;
    const {status, data} = await api("DELETE", "/api/presence/authorization");
    say("presence-result", status === 200 ? "Revoked: " + data.subscription : fieldErrors(data),
        status === 200);
    refresh();
  };
  const actions = {
    "pause-users": ["/api/user-sync/pause", () => ({delete_extensions: $("opt-ext").checked})],
    "resume-users": ["/api/user-sync/resume", () => ({})],
    "pause-groups": ["/api/group-sync/pause", () => ({delete_groups: $("opt-grp").checked})],
    "resume-groups": ["/api/group-sync/resume", () => ({})],
    "disable": ["/api/integration/disable",
                () => ({delete_extensions: $("opt-ext").checked, delete_groups: $("opt-grp").checked})],
    "enable": ["/api/integration/enable", () => ({})],
    "disconnect": ["/api/integration/disconnect",
                   () => ({delete_extensions: $("opt-ext").checked, delete_groups: $("opt-grp").checked})],
  };
  for (const [id, [path, body]] of Object.entries(actions)) {
    $(id).onclick = async () => {
      if (!confirm($(id).textContent + "?")) return;
      const {status, data} = await api("POST", path, body());
      say("action-result", status === 200 ? $(id).textContent + ": done." : fieldErrors(data),
          status === 200);
      refresh();
    };
  }
  start();
});

async function useToken(token) {
  // trades the token for the session cookie once; the token is then forgotten
  const {status, data} = await api("POST", "/api/session", {token});
  if (status === 204) { say("login-result", "", true); return true; }
  say("login-result", status === 429 ? fieldErrors(data) : "That is not the admin token.", false);
  return false;
}

async function start() {
  // a link "/#token=..." (the demo prints one) hands the token over without a request carrying
  // it in the URL; the fragment is cleared at once
  if (location.hash.startsWith("#token=")) {
    const token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname + location.search);
    await useToken(token);
  }
  refresh(); loadSettings();
  if (!window.refresher) window.refresher = setInterval(refresh, 10000);
}
