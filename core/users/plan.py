"""The pure heart of user sync: `desired_state(directory, rules)` → `plan(desired, pbx, links)`.

No clock, no I/O: the same inputs give the same operations in the same order. Objects are
matched on the immutable Entra id through the links; email is used only to adopt an
existing extension (U5) or to hand a deleted user's extension to its re-created twin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from core.graph.records import EntraUser
from core.pbx.records import Extension
from core.users.directory import Directory
from core.users.numbering import Allocator, parse_number, read_property
from core.users.records import (
    Adopt,
    Create,
    Delete,
    Desired,
    Link,
    Operation,
    Owned,
    PbxView,
    Release,
    Skip,
    Update,
    Wanted,
)

# The PBX's charset for a mobile number (Extension Parameters: digits, letters, `( ) . - + * #`,
# at most 31): anything else, spaces included, is dropped.
_MOBILE_ALLOWED = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ()+.-*#")
# "Edit an Extension" takes no `number`: a changed number is reported, or, when the rules
# say so, the extension is deleted and created again with it.
NOT_RENUMBERED = ("number {new} is not given: the PBX cannot change the number of an extension, "
                  "so it keeps {old}; set users.numbering.on_change to recreate to re-create it "
                  "with {new}")
RECREATED = "re-created with number {new}, as the PBX cannot change the number of an extension"
NOT_RENUMBERED_YET = ("number {new} is not given yet: extension {old} is synced with its number "
                      "first, and re-created with {new} on the next run")


# desired state ---------------------------------------------------------------------------
def owned_fields(user: EntraUser) -> Owned:
    first, last = (user.given_name or "").strip(), (user.surname or "").strip()
    if not first and not last:
        first = (user.display_name or "").strip()
    mobile = user.mobile_phone or ""
    if not _MOBILE_ALLOWED.issuperset(mobile):  # most numbers have nothing to drop
        mobile = "".join(c for c in mobile if c in _MOBILE_ALLOWED)
    return Owned(first_name=first[:63], last_name=last[:63], email_addr=user_email(user),
                 mobile_number=mobile[:31], title=(user.job_title or "").strip()[:127])


def user_email(user: EntraUser) -> str:
    """`mail`, else a user principal name that is a plain address (not a guest's #EXT#)."""
    for candidate in (user.mail, user.user_principal_name):
        if candidate and "@" in candidate and "#" not in candidate:
            return candidate.strip()
    return ""


def label_of(user: EntraUser) -> str:
    return user.display_name or user.user_principal_name or user.id


def desired_state(directory: Directory, rules: Mapping[str, Any]) -> Desired:
    """What the PBX should hold for the users of `directory` under the user-sync `rules`."""
    delete_when = set(rules["delete_when"])
    numbering = rules["numbering"]
    wanted, doomed = [], {}
    for user in directory.users.values():
        if not user.account_enabled and "disabled" in delete_when:
            doomed[user.id] = "account disabled"
            continue
        if user.id not in directory.in_range:
            continue
        claimed = error = None
        if numbering["mode"] == "property":
            value = read_property(user.properties, numbering["property"])
            claimed, error = parse_number(value, numbering["property"])
        wanted.append(Wanted(user.id, label_of(user), owned_fields(user),
                             disabled=not user.account_enabled, claimed=claimed,
                             claim_error=error))
    if "deleted" in delete_when:
        doomed |= dict.fromkeys(directory.soft_deleted, "account deleted")
    wanted.sort(key=lambda w: (w.label.lower(), w.user_id))
    return Desired(
        wanted=tuple(wanted), doomed=doomed, present=frozenset(directory.users),
        soft_deleted=directory.soft_deleted, numbering=numbering,
        auto_delete_out_of_range=bool(rules["auto_delete_out_of_range"]),
        associate_by_email=bool(rules["associate_by_email"]),
        delete_deleted="deleted" in delete_when,
        organization=str(rules.get("organization") or "").strip())


# plan ------------------------------------------------------------------------------------
def plan(desired: Desired, pbx: PbxView, links: Mapping[str, Link], *,
         pending: Mapping[str, str] | None = None,
         scope: frozenset[str] | None = None) -> tuple[Operation, ...]:
    """The operations that bring the PBX to `desired`, in a deterministic order.

    `pending` maps user ids to numbers whose creation was started but not recorded (a run
    that died between the PBX write and the link): such an extension is adopted, not doubled.
    `scope`, for a run driven by a delta round, is the set of users it read: links of other
    users are left alone, and their extensions and numbers stay reserved.
    """
    pending = pending or {}
    exts = pbx.extensions
    wanted_ids = {w.user_id for w in desired.wanted}
    # extensions that stay with their user, or go, cannot be adopted by someone else
    owner_of = {link.ext_id: uid for uid, link in links.items()
                if link.ext_id in exts and (uid in wanted_ids or (scope is not None
                                                                   and uid not in scope))}
    by_email: dict[str, Extension] = {}
    for ext in sorted(exts.values(), key=lambda e: e.id):
        if ext.email_addr:
            by_email.setdefault(ext.email_addr.lower(), ext)
    unlinked_by_email = {w.owned.email_addr.lower(): w for w in desired.wanted
                         if w.user_id not in links and w.owned.email_addr}
    ops: list[Operation] = []
    handed_over: dict[str, Link] = {}  # new user id -> link of its deleted twin

    for uid, link in sorted(links.items()):
        if uid in wanted_ids or (scope is not None and uid not in scope):
            continue
        ext = exts.get(link.ext_id)
        label = link.label or uid
        if ext is None:
            ops.append(Release(uid, label, link.ext_id, link.number,
                               "the extension was deleted on the PBX"))
            continue
        twin = unlinked_by_email.get(ext.email_addr.lower()) if ext.email_addr else None
        if twin is not None and desired.gone(uid):
            handed_over[twin.user_id] = link
        elif uid in desired.doomed:
            ops.append(Delete(uid, label, ext.id, ext.number, desired.doomed[uid]))
        elif desired.gone(uid):
            if desired.delete_deleted:
                ops.append(Delete(uid, label, ext.id, ext.number, "account deleted"))
            else:
                ops.append(Release(uid, label, ext.id, ext.number, "account deleted"))
        elif desired.auto_delete_out_of_range:
            ops.append(Delete(uid, label, ext.id, ext.number, "no longer in the sync range"))
        else:
            ops.append(Release(uid, label, ext.id, ext.number, "no longer in the sync range"))
        if ops and isinstance(ops[-1], Delete) and ops[-1].user_id == uid:
            owner_of[ext.id] = uid

    property_mode = desired.numbering.get("mode") == "property"
    recreate = desired.numbering.get("on_change", "report") == "recreate"
    claims = Counter(w.claimed for w in desired.wanted if w.claimed and not w.claim_error)
    number_owner = {e.number: e for e in exts.values()}
    taken = set(number_owner) | {link.number for link in links.values()}
    allocator = Allocator(str(desired.numbering.get("start", "1000")), taken)
    # A number a user claims (property mode) may be held by an extension this plan deletes:
    # it is free to take now, for apply deletes first and the taker names the deletion it
    # waits for. Auto numbering leaves such numbers to the next run, as before.
    deleting = {op.ext_id for op in ops if isinstance(op, Delete)} if property_mode else set()

    def freed_by(number: str) -> int | None:
        """The extension whose deletion in this plan frees `number`, if any."""
        holder = number_owner.get(number)
        return holder.id if holder is not None and holder.id in deleting else None

    def free(number: str, own_ext: int | None) -> str | None:
        """Why `number` cannot be used by the extension `own_ext`, or None."""
        holder = number_owner.get(number)
        if holder is not None and holder.id != own_ext and holder.id not in deleting:
            return f"number {number} is taken by extension {holder.number}"
        if holder is None and number in taken and own_ext is None:
            return f"number {number} is already used"
        return None

    for w in desired.wanted:
        link = links.get(w.user_id)
        if property_mode and w.claim_error:
            ops.append(Skip(w.user_id, w.label, w.claim_error))
            continue
        if property_mode and w.claimed and claims[w.claimed] > 1:
            ops.append(Skip(w.user_id, w.label, f"number {w.claimed} is claimed by "
                            f"{claims[w.claimed]} users; none of them is given it"))
            continue
        if link is not None and link.ext_id in exts:
            ops.extend(_keep(w, exts[link.ext_id], property_mode, recreate, free, freed_by,
                             taken))
        elif link is not None:
            ops.append(_recreate(w, link, property_mode, free, freed_by, allocator, taken))
        elif w.user_id in handed_over:
            old = handed_over[w.user_id]
            ext = exts[old.ext_id]
            ops.append(Adopt(w.user_id, w.label, ext.id, ext.number, w.owned.changes(ext),
                             replaces_user=old.user_id))
        elif w.disabled:
            ops.append(Skip(w.user_id, w.label, "account disabled: no extension is created"))
        else:
            started = number_owner.get(pending.get(w.user_id, ""))
            if started is not None and started.id not in owner_of:
                ops.append(Adopt(w.user_id, w.label, started.id, started.number,
                                 w.owned.changes(started)))
                continue
            candidate = by_email.get(w.owned.email_addr.lower()) if w.owned.email_addr else None
            ops.extend(_new(w, candidate, owner_of, desired, property_mode, free, freed_by,
                            allocator, taken))
    if desired.organization:
        ops = [replace(op, organization=desired.organization) if isinstance(op, Create) else op
               for op in ops]
    return tuple(ops)


def _keep(w: Wanted, ext: Extension, property_mode: bool, recreate: bool, free: Any,
          freed_by: Any, taken: set[str]) -> list[Operation]:
    """A synced extension: its drifted owned fields are written; its number is never edited.

    A claimed number that differs is reported, or with `recreate` the extension is deleted
    and created with it: the creation waits for the deletion (and for the one that frees
    the number, if any), so the deletion guard holds both together.
    """
    changes = w.owned.changes(ext)
    update: list[Operation] = [Update(w.user_id, w.label, ext.id, ext.number, changes)
                               ] if changes else []
    if not (property_mode and w.claimed and w.claimed != ext.number):
        return update
    reason = free(w.claimed, ext.id)
    if reason:
        return [*update, Skip(w.user_id, w.label, reason)]
    if not recreate:
        return [*update, Skip(w.user_id, w.label,
                              NOT_RENUMBERED.format(old=ext.number, new=w.claimed))]
    taken.add(w.claimed)
    return [Delete(w.user_id, w.label, ext.id, ext.number, RECREATED.format(new=w.claimed)),
            Create(w.user_id, w.label, w.claimed, w.owned, recreate=True,
                   after_delete=freed_by(w.claimed) or ext.id)]


def _recreate(w: Wanted, link: Link, property_mode: bool, free: Any, freed_by: Any,
              allocator: Allocator, taken: set[str]) -> Operation:
    """A linked extension deleted by hand on the PBX comes back, with its number if free."""
    number = w.claimed if property_mode and w.claimed else link.number
    if free(number, -1) is not None:
        if property_mode:
            return Skip(w.user_id, w.label, str(free(number, -1)))
        number = allocator.take() or ""
    if not number:
        return Skip(w.user_id, w.label, "no free extension number")
    taken.add(number)
    return Create(w.user_id, w.label, number, w.owned, recreate=True,
                  after_delete=freed_by(number))


def _new(w: Wanted, candidate: Extension | None, owner_of: Mapping[int, str], desired: Desired,
         property_mode: bool, free: Any, freed_by: Any, allocator: Allocator,
         taken: set[str]) -> list[Operation]:
    """A user without an extension: adopt the one with its email (U5), or create one."""
    if candidate is not None:
        if candidate.id in owner_of:
            return [Skip(w.user_id, w.label, f"email {w.owned.email_addr} belongs to extension "
                         f"{candidate.number}, synced for another user")]
        if desired.associate_by_email:
            return _adopt(w, candidate, property_mode, desired, free)
        return [Skip(w.user_id, w.label, f"extension {candidate.number} already has email "
                     f"{w.owned.email_addr} and associate by email is off")]
    return [_create(w, property_mode, free, freed_by, allocator, taken)]


def _adopt(w: Wanted, candidate: Extension, property_mode: bool, desired: Desired,
           free: Any) -> list[Operation]:
    """Adopt by email, keeping the extension's number; a different claimed one is reported.

    An extension is never deleted before it is synced: with `recreate`, the next run,
    which finds it synced, re-creates it with the claimed number.
    """
    adopt = Adopt(w.user_id, w.label, candidate.id, candidate.number,
                  w.owned.changes(candidate))
    if not (property_mode and w.claimed and w.claimed != candidate.number):
        return [adopt]
    later = desired.numbering.get("on_change", "report") == "recreate"
    reason = free(w.claimed, candidate.id) or (NOT_RENUMBERED_YET if later else NOT_RENUMBERED
                                               ).format(old=candidate.number, new=w.claimed)
    return [adopt, Skip(w.user_id, w.label, reason)]


def _create(w: Wanted, property_mode: bool, free: Any, freed_by: Any, allocator: Allocator,
            taken: set[str]) -> Operation:
    if property_mode:
        number = w.claimed or ""
        reason = free(number, None)
        if reason:
            return Skip(w.user_id, w.label, reason)
        taken.add(number)
    else:
        number = allocator.take() or ""
        if not number:
            return Skip(w.user_id, w.label, "no free extension number")
    return Create(w.user_id, w.label, number, w.owned, after_delete=freed_by(number))
