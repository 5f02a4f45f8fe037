"""Group sync, the pure part: `desired_groups(groups, members, rules)` → `plan_groups(...)`.

An Entra group in range becomes an extension group of the same name whose members are the
extensions of its synced users (members of nested groups included). Groups are matched on
the Entra object id through links; a PBX group of the same name that is not linked is never
taken over. At most 63 extension groups fit on the PBX (G3); the groups past that are
reported in name order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from core.graph.records import EntraGroup
from core.groups.records import (
    MAX_GROUPS,
    CreateGroup,
    DeleteGroup,
    GroupLink,
    GroupOperation,
    ReleaseGroup,
    SkipGroup,
    UpdateGroup,
    WantedGroup,
)
from core.pbx.records import ExtensionGroup
from core.users.records import Link

NAME_LIMIT = 127


















def group_type(group: EntraGroup) -> str:
    """G1's types: microsoft365 (Unified), security, or other (distribution lists)."""
    if "Unified" in group.group_types:
        return "microsoft365"
    return "security" if group.security_enabled else "other"


def in_range(group: EntraGroup, rules: Mapping[str, Any]) -> bool:
    """G1: all groups, groups of the chosen types, or the chosen groups."""
    if rules["range"] == "groups":
        return group.id in rules["group_ids"]
    if rules["range"] == "types":
        return group_type(group) in rules["group_types"]
    return True


def desired_groups(groups: list[EntraGroup], members: Mapping[str, list[str]],
                   rules: Mapping[str, Any]) -> tuple[WantedGroup, ...]:
    wanted = [WantedGroup(g.id, (g.display_name or g.id).strip()[:NAME_LIMIT],
                          tuple(sorted(members.get(g.id, ()))))
              for g in groups if in_range(g, rules)]
    return tuple(sorted(wanted, key=lambda w: (w.name.lower(), w.group_id)))


def plan_groups(wanted: tuple[WantedGroup, ...], pbx_groups: Mapping[int, ExtensionGroup],
                links: Mapping[str, GroupLink], user_links: Mapping[str, Link], *,
                existing_ext_ids: frozenset[int], auto_delete: bool) -> tuple[GroupOperation, ...]:
    """The operations that bring the PBX's extension groups to `wanted`."""
    ops: list[GroupOperation] = []
    wanted_ids = {w.group_id for w in wanted}
    for group_id, link in sorted(links.items()):
        if group_id in wanted_ids:
            continue
        if link.pbx_group_id not in pbx_groups:
            ops.append(ReleaseGroup(group_id, link.name, link.pbx_group_id,
                                    "the extension group was deleted on the PBX"))
        elif auto_delete:
            ops.append(DeleteGroup(group_id, link.name, link.pbx_group_id,
                                   "no longer in the sync range"))
        else:
            ops.append(ReleaseGroup(group_id, link.name, link.pbx_group_id,
                                    "no longer in the sync range"))
    ours = {link.pbx_group_id for link in links.values()}
    names_taken = {g.name: g for g in pbx_groups.values() if g.id not in ours}
    twice = Counter(w.name for w in wanted)
    freed = sum(1 for op in ops if isinstance(op, DeleteGroup))
    room = MAX_GROUPS - len(pbx_groups) + freed
    for w in wanted:
        members = tuple(sorted({user_links[u].ext_id for u in w.member_user_ids
                                if u in user_links and user_links[u].ext_id in existing_ext_ids}))
        link = links.get(w.group_id)
        current = pbx_groups.get(link.pbx_group_id) if link else None
        if twice[w.name] > 1:
            ops.append(SkipGroup(w.group_id, w.name, f"{twice[w.name]} groups in range are "
                                 f"named {w.name!r}; extension group names must be unique"))
        elif w.name in names_taken:
            ops.append(SkipGroup(w.group_id, w.name, f"the PBX already has an extension group "
                                 f"named {w.name!r} that is not synced"))
        elif current is not None:
            new_name = w.name if current.name != w.name else None
            new_members = members if (current.member_select != "sel_specific"
                                      or tuple(sorted(current.member_ids)) != members) else None
            if new_name is not None or new_members is not None:
                ops.append(UpdateGroup(w.group_id, w.name, current.id, new_name, new_members))
        elif room <= 0:
            ops.append(SkipGroup(w.group_id, w.name, f"the PBX holds at most {MAX_GROUPS} "
                                 "extension groups"))
        else:
            room -= 1
            ops.append(CreateGroup(w.group_id, w.name, members, recreate=link is not None))
    return tuple(ops)
