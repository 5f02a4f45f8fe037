"""The steps and the result of provisioning one user, in words an administrator reads.

Pure: told from what provisioning saw (`provision.Seen`), the PBX writes and their answers,
the run, and the user's link afterwards. Six steps, always all of them, each `ok`, `skipped`,
`failed` or `info`; a step not reached says so.
"""

from __future__ import annotations

from typing import Any

from core.engine.runs import Run
from core.graph.records import EntraUser
from core.users.numbering import read_property
from core.users.provision import LEFT_TO_SYNC, Seen, Write
from core.users.records import Adopt, Create, Link, Operation, Release, Skip, Update

STEPS = ("read", "range", "match", "number", "write", "link")
NOT_REACHED = "not reached"
FIELD_NAMES = {"first_name": "first name", "last_name": "last name", "email_addr": "email",
               "mobile_number": "mobile number", "title": "job title"}


def step(name: str, outcome: str, detail: str) -> dict[str, str]:
    """One step as the answer shows it."""
    return {"step": name, "outcome": outcome, "detail": detail}


def user_brief(user: EntraUser) -> dict[str, Any]:
    """Who was provisioned: id, name and user principal name."""
    return {"id": user.id, "name": user.display_name, "upn": user.user_principal_name}


def report(seen: Seen, writes: list[Write], run: Run, after: Link | None) -> dict[str, Any]:
    """The answer of `POST /api/provision`: the user, the six steps, the result, the run."""
    failures = [f for f in run.failures if f.get("user_id") == seen.user.id]
    told = {"read": _read(seen.user), "range": _range(seen)}
    if seen.snapshot is not None:
        match, consumed = _match(seen)
        told |= {"match": match, "number": _number(seen, consumed)}
    elif seen.failed_at == "match":
        told["match"] = step("match", "failed", f"the PBX could not be read: {run.error}")
    told["write"] = _write(seen, writes, failures, run, after)
    told["link"] = _link(seen.link_before, after, failures)
    steps = [told.get(name) or step(name, "skipped", NOT_REACHED) for name in STEPS]
    return {"user": user_brief(seen.user), "steps": steps,
            "result": _result(seen, writes, failures, run, after), "run_id": run.id}


def _read(user: EntraUser) -> dict[str, str]:
    mail = f", email {user.mail}" if user.mail and user.mail != user.user_principal_name else ""
    state = "enabled" if user.account_enabled else "disabled"
    return step("read", "ok", f"{user.display_name or user.id} ({user.user_principal_name}"
                f"{mail}): account {state}, user type {user.user_type}")


def _range(seen: Seen) -> dict[str, str]:
    if seen.in_range is None:
        return step("range", "failed" if seen.failed_at == "range" else "skipped",
                    seen.range_reason or NOT_REACHED)
    return step("range", "ok" if seen.in_range else "skipped", seen.range_reason)


def _first(ops: tuple[Operation, ...], kind: type) -> Any:
    return next((op for op in ops if isinstance(op, kind)), None)


def _match(seen: Seen) -> tuple[dict[str, str], bool]:
    """The match step, and whether it told the plan's skip (so the number step does not)."""
    snap, uid, link = seen.snapshot, seen.user.id, seen.link_before
    assert snap is not None
    wanted = next((w for w in snap.desired.wanted if w.user_id == uid), None)
    email = wanted.owned.email_addr if wanted else ""
    adopt, skip = _first(seen.planned, Adopt), _first(seen.planned, Skip)
    if adopt is not None:
        if adopt.replaces_user:
            why = "which belonged to a deleted account with the same email"
        elif seen.pending.get(uid) == adopt.number:
            why = "whose creation for this user an earlier run started"
        else:
            why = f"has the same email {email}"
        return step("match", "ok", f"adopted: extension {adopt.number} {why}"), False
    if link is not None and link.ext_id in snap.view.extensions:
        return step("match", "ok", f"already linked to extension {link.number}"), False
    if link is not None:
        return step("match", "info", f"linked to extension {link.number}, which was deleted "
                    "on the PBX"), False
    if uid in snap.desired.doomed:
        return step("match", "skipped", f"not linked; {snap.desired.doomed[uid]}: such "
                    "accounts are not synced"), True
    if wanted is None:
        return step("match", "skipped", "not linked to any extension"), True
    holder = next((e for e in snap.view.extensions.values()
                   if email and e.email_addr.lower() == email.lower()), None)
    if skip is not None and (holder is not None or wanted.disabled):
        return step("match", "skipped", skip.reason), True
    with_email = f" or has the email {email}" if email else ""
    return step("match", "ok", f"new: no extension is linked to this user{with_email}"), False


def _number(seen: Seen, consumed: bool) -> dict[str, str]:
    snap, link = seen.snapshot, seen.link_before
    assert snap is not None
    numbering = snap.desired.numbering
    create, skip = _first(seen.planned, Create), _first(seen.planned, Skip)
    kept = _first(seen.planned, Adopt) or (link if link and link.ext_id in snap.view.extensions
                                           else None)
    note = f"; {skip.reason}" if skip is not None and not consumed else ""
    if create is not None:
        if numbering.get("mode") == "property":
            value = read_property(seen.user.properties, str(numbering["property"]))
            why = f"from property {numbering['property']} ({value!r})"
        elif create.recreate and link is not None and create.number == link.number:
            why = "the number it had before"
        else:
            why = f"the next free number from {numbering.get('start', '1000')}"
        outcome = "skipped" if _first(seen.ops, Create) is None else "ok"
        return step("number", outcome, f"{create.number}: {why}{note}")
    if _first(seen.ops, Release) is not None:
        return step("number", "skipped", "no number needed: the extension is released")
    if kept is not None:
        return step("number", "info", f"keeps {kept.number}: a synced extension keeps its "
                    f"number{note}")
    if skip is not None and not consumed:
        return step("number", "skipped", skip.reason)
    return step("number", "skipped", "no number needed")


def _write(seen: Seen, writes: list[Write], failures: list[dict[str, Any]], run: Run,
           after: Link | None) -> dict[str, str] | None:
    if writes:
        told = "; ".join(_answer(w, after) for w in writes)
        refused = [f["reason"] for f in failures] + [
            s["reason"] for s in run.skipped if s.get("user_id") == seen.user.id
            and any(w.errcode for w in writes)]
        detail = told + (f" ({'; '.join(refused)})" if refused else "")
        return step("write", "failed" if any(w.errcode for w in writes) else "ok", detail)
    if failures:
        return step("write", "failed", "; ".join(f["reason"] for f in failures))
    if seen.outcome is None:
        return step("write", "failed", str(run.error)) if run.state == "failed" and (
            seen.snapshot is not None) else None
    if _first(seen.ops, Release) is not None:
        return step("write", "ok", "nothing written to the PBX: a release only removes the "
                    "link, the extension stays as it is")
    left = _first(seen.ops, Skip)
    if left is not None and left.reason == LEFT_TO_SYNC:
        return step("write", "skipped", LEFT_TO_SYNC)
    if _first(seen.ops, Adopt) is not None or seen.link_before is not None:
        return step("write", "info", "nothing to write: the extension already has the fields "
                    "from Entra ID")
    return step("write", "skipped", "nothing to write")


def _answer(write: Write, after: Link | None) -> str:
    """`extension/create → errcode 0, id 42`; an id the answer lacked is found by number."""
    fields = [FIELD_NAMES.get(f, f) for f in write.fields] if write.endpoint.endswith(
        "update") else []
    said = f"{write.endpoint}{' (' + ', '.join(fields) + ')' if fields else ''} → errcode "
    if write.errcode:
        return f"{said}{write.errcode} {write.errmsg}".rstrip()
    if write.ext_id is not None:
        return f"{said}0, id {write.ext_id}"
    if write.endpoint == "extension/create" and after is not None:
        return f"{said}0, id {after.ext_id} (found by its number: the answer has no id)"
    return f"{said}0"


def _link(before: Link | None, after: Link | None,
          failures: list[dict[str, Any]]) -> dict[str, str]:
    if after is not None and (before is None or before.ext_id != after.ext_id):
        return step("link", "ok", f"linked to extension {after.number} (id {after.ext_id})")
    if after is not None:
        return step("link", "info", f"unchanged: linked to extension {after.number} "
                    f"(id {after.ext_id})")
    if before is not None:
        return step("link", "ok", f"link removed: extension {before.number} is released, "
                    "managed on the PBX from now on")
    if failures:
        return step("link", "failed", "no link recorded: " + failures[0]["reason"])
    return step("link", "skipped", "no link: this user is not synced")


def _result(seen: Seen, writes: list[Write], failures: list[dict[str, Any]], run: Run,
            after: Link | None) -> dict[str, Any]:
    name, counts = seen.user.display_name or seen.user.id, run.counts
    number = after.number if after else None
    skipped = [s["reason"] for s in run.skipped if s.get("user_id") == seen.user.id]
    if any(w.errcode for w in writes):
        refusal = next(w for w in writes if w.errcode)
        why = "; ".join(skipped + [f["reason"] for f in failures]) or refusal.errmsg
        return _said("refused", number, f"The PBX refused {refusal.endpoint} for {name}: "
                     f"errcode {refusal.errcode} ({why}).")
    if run.state == "failed" or failures:
        why = "; ".join(f["reason"] for f in failures) or str(run.error)
        return _said("failed", number, f"Provisioning {name} failed: {why}.")
    if counts.get("created"):
        return _said("created", number, f"Created extension {number} for {name}.")
    if counts.get("linked"):
        return _said("adopted", number, f"Linked {name} to the existing extension {number}.")
    if counts.get("updated"):
        update = _first(seen.ops, Update)
        fields = ", ".join(FIELD_NAMES.get(f, f) for f, _ in update.changes) if update else ""
        return _said("updated", number, f"Updated extension {number} for {name}: {fields}.")
    if counts.get("released"):
        release = _first(seen.ops, Release)
        return _said("released", release.number if release else None,
                     f"Released extension {release.number if release else ''} of {name}: "
                     f"{release.reason if release else ''}; it stays on the PBX, managed "
                     "there.")
    if after is not None and not skipped:
        return _said("unchanged", number, f"{name} is already synced to extension {number}; "
                     "nothing to change.")
    why = "; ".join(skipped) or (seen.range_reason if not seen.in_range else "") or (
        "not synced")
    return _said("skipped", number, f"{name} was not provisioned: {why}.")


def _said(outcome: str, extension: str | None, summary: str) -> dict[str, Any]:
    return {"outcome": outcome, "extension": extension, "summary": summary}
