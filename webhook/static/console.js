// The console's one script of its own: every change a page makes goes to the admin JSON API.
// The admin token is posted once to /api/session, which answers with an HttpOnly cookie; no
// script keeps it. X-Requested-With goes with every call: the API takes a cookie only with it.
//
// Declarative, so pages need no script of their own for the common cases:
//   <form data-api="/api/..." data-method="PATCH" data-then="reload|show|/runs/{run_id}">
//     inputs named by their dotted path in the JSON body ("users.numbering.start");
//     data-type on an input: int | bool | list (comma or newline separated) | set (checkboxes
//     sharing a name → the list of those checked) | json | null-empty (empty → null);
//     an input with data-skip is left out; <span class="field-error" data-for="path"> shows
//     the API's error for that field, <span class="form-result"> the answer.
//   <button data-api="/api/..." data-method="POST" data-body='{"scope": "users"}'
//     data-confirm="Are you sure?" data-then="...">
// A successful change fires a bubbling "console:saved" event on the form or button, with
// {body, answer} in its detail, before data-then runs.
// Pages with more to do (settings.js …) use window.Console.
"use strict";

const Console = (() => {
  async function api(method, path, body) {
    const headers = {"X-Requested-With": "console"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    let data = {};
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) { try { data = await response.json(); } catch (e) { data = {}; } }
    return {status: response.status, ok: response.ok, data};
  }

  function setPath(target, path, value) {
    const keys = path.split(".");
    let here = target;
    keys.slice(0, -1).forEach((key) => {
      if (typeof here[key] !== "object" || here[key] === null) here[key] = {};
      here = here[key];
    });
    here[keys[keys.length - 1]] = value;
  }

  function valueOf(input) {
    const type = input.dataset.type || "";
    const raw = input.value;
    if (input.type === "checkbox" && type !== "set") return input.checked;
    if (type === "int") return raw.trim() === "" ? null : Number(raw);
    if (type === "bool") return raw === "true";
    if (type === "list") return raw.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    if (type === "json") return raw.trim() === "" ? null : JSON.parse(raw);
    if (type === "null-empty") return raw.trim() === "" ? null : raw.trim();
    return raw;
  }

  // The JSON body of a form: every named, enabled input not marked data-skip.
  function serialize(form) {
    const body = {};
    const sets = {};
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach((input) => {
      if (input.disabled || "skip" in input.dataset) return;
      if (input.dataset.type === "set") {
        sets[input.name] = sets[input.name] || [];
        if (input.checked) sets[input.name].push(input.value);
        return;
      }
      if (input.type === "radio" && !input.checked) return;
      setPath(body, input.name, valueOf(input));
    });
    Object.entries(sets).forEach(([name, list]) => setPath(body, name, list));
    return body;
  }

  function clearErrors(scope) {
    scope.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
    scope.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  // The API's answer next to what it is about: each field's errors beside the field, the rest
  // in the form's result. Errors for a field the form does not show go to the result too.
  function showErrors(scope, data) {
    clearErrors(scope);
    const rest = [];
    Object.entries(data.fields || {}).forEach(([field, messages]) => {
      const text = [].concat(messages).join("; ");
      let slot = scope.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
      let prefix = field;
      while (!slot && prefix.includes(".")) {  // "users.numbering.start.0" → its parent
        prefix = prefix.slice(0, prefix.lastIndexOf("."));
        slot = scope.querySelector(`.field-error[data-for="${CSS.escape(prefix)}"]`);
      }
      if (slot) {
        slot.textContent = text;
        const input = scope.querySelector(`[name="${CSS.escape(prefix)}"]`);
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        rest.push(`${field}: ${text}`);
      }
    });
    const message = [data.error || data.message || "", ...rest].filter(Boolean).join(" · ");
    return message;
  }

  function say(scope, text, ok) {
    const slot = (scope && scope.querySelector(".form-result")) || document.getElementById("flash");
    if (!slot) return;
    slot.textContent = text;
    slot.hidden = !text;
    slot.className = (slot.id === "flash" ? "flash " : "form-result ") + (ok ? "ok" : "bad");
  }

  function then(element, data) {
    const next = element.dataset.then || "show";
    if (next === "reload") { window.location.reload(); return; }
    if (next === "show") return;
    window.location.assign(next.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data[key] || "")));
  }

  async function send(element, body) {
    const method = element.dataset.method || "POST";
    if (element.dataset.confirm && !window.confirm(element.dataset.confirm)) return null;
    const answer = await api(method, element.dataset.api, body);
    const scope = element.closest("form") || element.closest("section") || document;
    if (answer.ok) {
      clearErrors(scope);
      say(scope, element.dataset.done || "Saved.", true);
      element.dispatchEvent(new CustomEvent("console:saved", {bubbles: true,
        detail: {body, answer: answer.data}}));
      then(element, answer.data);
    } else if (answer.status === 401) {
      say(scope, "Your session has ended: sign in again.", false);
    } else {
      say(scope, showErrors(scope, answer.data) || `The request failed (${answer.status}).`, false);
    }
    return answer;
  }

  // Times as the browser's local time, durations left as the server wrote them.
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const moment = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(moment.getTime())) {
        el.textContent = moment.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
        el.title = el.getAttribute("datetime");
      }
    });
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-api]")) return;
    event.preventDefault();
    let body;
    try { body = serialize(form); } catch (e) { say(form, `Not valid JSON: ${e.message}`, false); return; }
    send(form, body);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-api]");
    if (!button || button.form && button.type === "submit") return;
    event.preventDefault();
    send(button, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
  });

  // A link "/#token=..." (make demo prints one) hands the admin token over without a request
  // carrying it in the URL: the fragment is cleared at once and the token traded for a session.
  async function tokenFromLink() {
    if (!location.hash.startsWith("#token=")) return;
    const token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname + location.search);
    const answer = await api("POST", "/api/session", {token});
    if (answer.ok) window.location.reload();
    else say(document, "The link's admin token was refused: paste the token below.", false);
  }

  document.addEventListener("DOMContentLoaded", () => { localize(document); tokenFromLink(); });
  document.addEventListener("htmx:afterSwap", (event) => localize(event.target));
  document.addEventListener("htmx:oobAfterSwap", (event) => localize(event.target));
  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-Requested-With"] = "console";
  });

  return {api, serialize, showErrors, clearErrors, say, send, localize};
})();
window.Console = Console;
