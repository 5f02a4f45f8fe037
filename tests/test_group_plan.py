"""The pure group planner (SPEC.md §G)."""

from __future__ import annotations

import copy
from typing import Any

from core.graph.records import EntraGroup
from core.groups.plan import desired_groups, plan_groups
from core.groups.records import (
    MAX_GROUPS,
    CreateGroup,
    DeleteGroup,
    GroupLink,
    ReleaseGroup,
    SkipGroup,
    UpdateGroup,
)
from core.pbx.records import ExtensionGroup
from core.sync_settings import defaults
from core.users.records import Link

SALES = EntraGroup("g-sales", "Sales", (), security_enabled=True)
TEAM = EntraGroup("g-team", "Team", ("Unified",), security_enabled=False, mail_enabled=True)
USERS = {"u1": Link("u1", 11, "1001"), "u2": Link("u2", 12, "1002"), "u3": Link("u3", 13, "1003")}
EXTS = frozenset({11, 12, 13})


def rules(**changes: Any) -> dict[str, Any]:
    return copy.deepcopy(defaults()["groups"]) | {"enabled": True} | changes


def run(groups: list[EntraGroup], members: dict[str, list[str]],
        pbx: list[ExtensionGroup] = (), links: dict[str, GroupLink] | None = None,  # type: ignore[assignment]
        **rule_changes: Any) -> tuple[Any, ...]:
    r = rules(**rule_changes)
    return plan_groups(desired_groups(groups, members, r), {g.id: g for g in pbx}, links or {},
                       USERS, existing_ext_ids=EXTS, auto_delete=r["auto_delete_out_of_range"])


def test_groups_in_range_become_extension_groups_of_their_synced_users() -> None:
    ops = run([SALES, TEAM], {"g-sales": ["u2", "u1", "unsynced"], "g-team": ["u3"]})

    assert ops == (CreateGroup("g-sales", "Sales", (11, 12)), CreateGroup("g-team", "Team", (13,)))


def test_types_range_picks_security_or_microsoft_365_groups() -> None:
    security = run([SALES, TEAM], {}, range="types", group_types=["security"])
    chosen = run([SALES, TEAM], {}, range="groups", group_ids=["g-team"])

    assert [op.group_id for op in security] == ["g-sales"]
    assert [op.group_id for op in chosen] == ["g-team"]


def test_renamed_group_and_changed_members_update_the_linked_extension_group() -> None:
    current = ExtensionGroup(5, "Old Sales", "sel_specific", (11,))
    links = {"g-sales": GroupLink("g-sales", 5, "Old Sales")}

    ops = run([SALES], {"g-sales": ["u1", "u2"]}, [current], links)

    assert ops == (UpdateGroup("g-sales", "Sales", 5, "Sales", (11, 12)),)
    assert run([SALES], {"g-sales": ["u1"]},
               [ExtensionGroup(5, "Sales", "sel_specific", (11,))], links) == ()


def test_group_leaving_the_range_is_released_or_deleted() -> None:
    links = {"g-sales": GroupLink("g-sales", 5, "Sales")}
    pbx = [ExtensionGroup(5, "Sales", "sel_specific", (11,))]

    assert run([], {}, pbx, links) == (
        ReleaseGroup("g-sales", "Sales", 5, "no longer in the sync range"),)
    assert run([], {}, pbx, links, auto_delete_out_of_range=True) == (
        DeleteGroup("g-sales", "Sales", 5, "no longer in the sync range"),)


def test_an_unlinked_extension_group_of_the_same_name_is_not_taken_over() -> None:
    ops = run([SALES], {}, [ExtensionGroup(9, "Sales", "sel_specific", ())])

    assert ops == (SkipGroup("g-sales", "Sales", "the PBX already has an extension group "
                             "named 'Sales' that is not synced"),)


def test_groups_past_63_are_reported_in_name_order() -> None:
    existing = [ExtensionGroup(i, f"Manual {i}", "sel_all_ext", ()) for i in range(MAX_GROUPS - 1)]

    ops = run([TEAM, SALES], {}, existing)

    assert [type(op) for op in ops] == [CreateGroup, SkipGroup]
    assert ops[0].name == "Sales" and "at most 63" in ops[1].reason


def test_linked_extension_group_deleted_by_hand_comes_back() -> None:
    ops = run([SALES], {"g-sales": ["u1"]}, [], {"g-sales": GroupLink("g-sales", 5, "Sales")})

    assert ops == (CreateGroup("g-sales", "Sales", (11,), recreate=True),)
