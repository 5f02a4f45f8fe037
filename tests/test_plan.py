"""The pure planner, rule by rule (SPEC.md §U)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from core.engine.guard import hold_deletions
from core.graph.records import EntraUser
from core.pbx.records import Extension
from core.sync_settings import defaults
from core.users.directory import Directory
from core.users.plan import RECREATED, desired_state, plan
from core.users.records import (
    OWNED_FIELDS,
    Adopt,
    Create,
    Delete,
    Link,
    Owned,
    PbxView,
    Release,
    Skip,
    Update,
)
from core.users.sync import DELETIONS


def rules(**changes: Any) -> dict[str, Any]:
    users = copy.deepcopy(defaults()["users"])
    for key, value in changes.items():
        if key in ("mode", "start", "property", "on_change"):
            users["numbering"][key] = value
        else:
            users[key] = value
    return users


def user(uid: str, name: str, **fields: Any) -> EntraUser:
    given, _, surname = name.partition(" ")
    email = fields.pop("mail", f"{given.lower()}@contoso.com")
    props = fields.pop("properties", {})
    return EntraUser(id=uid, display_name=name, given_name=given, surname=surname, mail=email,
                     user_principal_name=email, job_title=fields.pop("job_title", "Engineer"),
                     mobile_phone=fields.pop("mobile_phone", None), properties=props, **fields)


def ext(ext_id: int, number: str, name: str, email: str = "", title: str = "Engineer",
        mobile: str = "") -> Extension:
    first, _, last = name.partition(" ")
    return Extension(id=ext_id, number=number, caller_id_name=name, email_addr=email,
                     mobile_number=mobile, first_name=first, last_name=last, title=title)


def directory(*users: EntraUser, in_range: set[str] | None = None,
              soft_deleted: set[str] = frozenset()) -> Directory:  # type: ignore[assignment]
    by_id = {u.id: u for u in users}
    return Directory(users=by_id, in_range=frozenset(in_range if in_range is not None else by_id),
                     soft_deleted=frozenset(soft_deleted))


def run_plan(d: Directory, exts: list[Extension], links: dict[str, Link] | None = None,
             **rule_changes: Any) -> tuple[Any, ...]:
    view = PbxView({e.id: e for e in exts})
    return plan(desired_state(d, rules(**rule_changes)), view, links or {})


ADA, BOB = user("u-ada", "Ada Lovelace"), user("u-bob", "Bob Stone")


def test_new_users_get_the_lowest_free_numbers_from_the_start() -> None:
    ops = run_plan(directory(ADA, BOB), [ext(7, "1000", "Front Desk")], start="1000")

    assert ops == (Create("u-ada", "Ada Lovelace", "1001", Owned(
        "Ada", "Lovelace", "ada@contoso.com", "", "Engineer")),
        Create("u-bob", "Bob Stone", "1002", Owned("Bob", "Stone", "bob@contoso.com", "",
                                                     "Engineer")))


def test_a_linked_user_keeps_its_number_and_only_drifted_fields_are_written() -> None:
    drifted = ext(1, "1005", "Ada Lovelace", "ada@contoso.com", title="Intern", mobile="+1 555")

    ops = run_plan(directory(ADA), [drifted], {"u-ada": Link("u-ada", 1, "1005")})

    assert ops == (Update("u-ada", "Ada Lovelace", 1, "1005",
                          (("mobile_number", ""), ("title", "Engineer"))),)


def test_an_extension_in_step_needs_nothing() -> None:
    same = ext(1, "1005", "Ada Lovelace", "ADA@contoso.com")

    assert run_plan(directory(ADA), [same], {"u-ada": Link("u-ada", 1, "1005")}) == ()


def test_renamed_user_keeps_its_extension() -> None:
    renamed = user("u-ada", "Ada King", mail="ada@contoso.com")
    current = ext(1, "1005", "Ada Lovelace", "ada@contoso.com")

    ops = run_plan(directory(renamed), [current], {"u-ada": Link("u-ada", 1, "1005")})

    assert ops == (Update("u-ada", "Ada King", 1, "1005", (("last_name", "King"),)),)


def test_user_types_range_leaves_guests_out() -> None:
    guest = user("u-gus", "Gus Guest", user_type="Guest")
    d = directory(ADA, guest, in_range={"u-ada"})

    ops = run_plan(d, [])

    assert [op.user_id for op in ops] == ["u-ada"]


def test_user_leaving_the_range_is_released_when_auto_delete_is_off() -> None:
    d = directory(ADA, in_range=set())
    links = {"u-ada": Link("u-ada", 1, "1005", "Ada Lovelace")}
    exts = [ext(1, "1005", "Ada Lovelace", "ada@contoso.com")]

    kept = run_plan(d, exts, links)
    removed = run_plan(d, exts, links, auto_delete_out_of_range=True)

    assert kept == (Release("u-ada", "Ada Lovelace", 1, "1005", "no longer in the sync range"),)
    assert removed == (Delete("u-ada", "Ada Lovelace", 1, "1005", "no longer in the sync range"),)


def test_disabled_account_is_deleted_only_when_chosen() -> None:
    disabled = user("u-ada", "Ada Lovelace", account_enabled=False)
    links = {"u-ada": Link("u-ada", 1, "1005", "Ada Lovelace")}
    exts = [ext(1, "1005", "Ada Lovelace", "ada@contoso.com")]

    chosen = run_plan(directory(disabled), exts, links, delete_when=["disabled"])
    kept = run_plan(directory(disabled), exts, links, delete_when=["deleted"])
    never_created = run_plan(directory(disabled), [], {}, delete_when=["deleted"])

    assert chosen == (Delete("u-ada", "Ada Lovelace", 1, "1005", "account disabled"),)
    assert kept == ()
    assert never_created == (Skip("u-ada", "Ada Lovelace",
                                  "account disabled: no extension is created"),)


def test_deleted_account_is_deleted_or_released_by_the_delete_when_choice() -> None:
    links = {"u-ada": Link("u-ada", 1, "1005", "Ada Lovelace")}
    exts = [ext(1, "1005", "Ada Lovelace", "ada@contoso.com")]
    soft = directory(soft_deleted={"u-ada"})
    purged = directory()

    assert run_plan(soft, exts, links) == (
        Delete("u-ada", "Ada Lovelace", 1, "1005", "account deleted"),)
    assert run_plan(purged, exts, links) == (
        Delete("u-ada", "Ada Lovelace", 1, "1005", "account deleted"),)
    assert run_plan(soft, exts, links, delete_when=["disabled"]) == (
        Release("u-ada", "Ada Lovelace", 1, "1005", "account deleted"),)


def test_associate_by_email_adopts_the_extension_and_overwrites_owned_fields() -> None:
    existing = ext(9, "2001", "A L", "Ada@Contoso.com", title="")

    on = run_plan(directory(ADA), [existing])
    off = run_plan(directory(ADA), [existing], associate_by_email=False)

    assert on == (Adopt("u-ada", "Ada Lovelace", 9, "2001", (
        ("first_name", "Ada"), ("last_name", "Lovelace"), ("title", "Engineer"))),)
    assert off == (Skip("u-ada", "Ada Lovelace", "extension 2001 already has email "
                        "ada@contoso.com and associate by email is off"),)


def test_property_numbering_reads_the_extension_after_the_marker() -> None:
    phone = user("u-ada", "Ada Lovelace", properties={"businessPhones": ["+1 425 555 0109 x1234"]})

    ops = run_plan(directory(phone), [], mode="property", property="businessPhones")

    assert [(type(op), op.number) for op in ops] == [(Create, "1234")]


def test_invalid_property_value_is_reported_not_guessed() -> None:
    phone = user("u-ada", "Ada Lovelace", properties={"businessPhones": ["+1 425 555 0109"]})
    empty = user("u-bob", "Bob Stone", properties={"businessPhones": []})

    ops = run_plan(directory(phone, empty), [], mode="property", property="businessPhones")

    assert ops == (
        Skip("u-ada", "Ada Lovelace", "businessPhones value '+1 425 555 0109' has 11 digits; "
             "an extension number has 1 to 7"),
        Skip("u-bob", "Bob Stone", "businessPhones has no value"))


def test_two_users_claiming_one_number_are_both_reported() -> None:
    a = user("u-ada", "Ada Lovelace", properties={"employeeId": "2000"})
    b = user("u-bob", "Bob Stone", properties={"employeeId": "2000"})

    ops = run_plan(directory(a, b), [], mode="property", property="employeeId")

    assert {type(op) for op in ops} == {Skip}
    assert all("claimed by 2 users" in op.reason for op in ops)


def test_claimed_number_held_by_an_unsynced_extension_is_reported() -> None:
    a = user("u-ada", "Ada Lovelace",
             properties={"onPremisesExtensionAttributes": {"extensionAttribute1": "3000"}})

    ops = run_plan(directory(a), [ext(4, "3000", "Lobby Phone")], mode="property",
                   property="onPremisesExtensionAttributes.extensionAttribute1")

    assert ops == (Skip("u-ada", "Ada Lovelace", "number 3000 is taken by extension 3000"),)


def test_extension_deleted_by_hand_is_recreated_with_its_number() -> None:
    ops = run_plan(directory(ADA), [], {"u-ada": Link("u-ada", 1, "1005", "Ada Lovelace")})

    assert [(type(op), op.number, getattr(op, "recreate", None)) for op in ops] == [
        (Create, "1005", True)]


def test_recreated_user_takes_over_the_extension_of_its_deleted_twin() -> None:
    twin = user("u-new", "Ada Lovelace")
    links = {"u-old": Link("u-old", 1, "1005", "Ada Lovelace")}

    ops = run_plan(directory(twin, soft_deleted={"u-old"}), [
        ext(1, "1005", "Ada Lovelace", "ada@contoso.com")], links)

    assert ops == (Adopt("u-new", "Ada Lovelace", 1, "1005", (), replaces_user="u-old"),)


def test_pending_create_is_adopted_even_with_associate_off() -> None:
    d = directory(ADA)
    view = PbxView({3: ext(3, "1000", "Ada Lovelace", "ada@contoso.com")})

    ops = plan(desired_state(d, rules(associate_by_email=False)), view, {},
               pending={"u-ada": "1000"})

    assert ops == (Adopt("u-ada", "Ada Lovelace", 3, "1000", ()),)


def test_an_unlinked_extension_is_never_deleted() -> None:
    exts = [ext(1, "1000", "Ada Lovelace", "ada@contoso.com"), ext(2, "1001", "Lobby")]

    ops = run_plan(directory(in_range=set()), exts, auto_delete_out_of_range=True,
                   delete_when=["disabled", "deleted"])

    assert ops == ()


def test_deletions_past_the_threshold_are_held_back() -> None:
    links = {f"u{i}": Link(f"u{i}", i, str(1000 + i), f"User {i}") for i in range(3)}
    exts = [ext(i, str(1000 + i), f"User {i}") for i in range(3)]
    ops = run_plan(directory(), exts, links)

    held = hold_deletions(ops, lambda op: DELETIONS.get(type(op)), limit=2, allow=False)
    allowed = hold_deletions(ops, lambda op: DELETIONS.get(type(op)), limit=2, allow=True)

    assert len(held.held) == 3 and held.to_apply == ()
    assert allowed.to_apply == ops and allowed.held == ()


def test_plan_is_deterministic_and_sorted_by_name() -> None:
    users = [user(f"u{i}", name) for i, name in enumerate(["Zoe Z", "amy A", "Bea B"])]

    first = run_plan(directory(*users), [])
    second = run_plan(directory(*reversed(users)), [])

    assert first == second
    assert [op.label for op in first] == ["amy A", "Bea B", "Zoe Z"]


def test_a_number_freed_by_a_deletion_is_taken_in_the_same_run() -> None:
    ada = user("u-ada", "Ada Lovelace", account_enabled=False,
               properties={"businessPhones": ["2000"]})
    ed = user("u-ed", "Ed Wood", properties={"businessPhones": ["2000"]})
    links = {"u-ada": Link("u-ada", 1, "2000", "Ada Lovelace")}
    exts = [ext(1, "2000", "Ada Lovelace", "ada@contoso.com")]

    ops = run_plan(directory(ada, ed), exts, links, delete_when=["disabled"], mode="property",
                   property="businessPhones")

    assert ops == (Delete("u-ada", "Ada Lovelace", 1, "2000", "account disabled"),
                   Create("u-ed", "Ed Wood", "2000", Owned("Ed", "Wood", "ed@contoso.com", "",
                                                            "Engineer"), after_delete=1))


def test_a_claimed_number_freed_by_a_deletion_is_moved_to_in_the_same_run() -> None:
    ada = user("u-ada", "Ada Lovelace", account_enabled=False,
               properties={"businessPhones": ["2000"]})
    bob = user("u-bob", "Bob Stone", properties={"businessPhones": ["2000"]})
    links = {"u-ada": Link("u-ada", 1, "2000", "Ada Lovelace"),
             "u-bob": Link("u-bob", 2, "2001", "Bob Stone")}
    exts = [ext(1, "2000", "Ada Lovelace", "ada@contoso.com"),
            ext(2, "2001", "Bob Stone", "bob@contoso.com")]

    ops = run_plan(directory(ada, bob), exts, links, delete_when=["disabled"], mode="property",
                   property="businessPhones", on_change="recreate")

    # Edit an Extension cannot change a number: Bob's extension is re-created with 2000, which
    # waits for the deletion of Ada's extension that frees it
    assert ops[1:] == (Delete("u-bob", "Bob Stone", 2, "2001", RECREATED.format(new="2000")),
                       Create("u-bob", "Bob Stone", "2000", Owned(
                           "Bob", "Stone", "bob@contoso.com", "", "Engineer"), recreate=True,
                           after_delete=1))


def test_auto_numbering_leaves_a_number_freed_by_a_deletion_to_the_next_run() -> None:
    ada = user("u-ada", "Ada Lovelace", account_enabled=False)
    links = {"u-ada": Link("u-ada", 1, "1000", "Ada Lovelace")}
    exts = [ext(1, "1000", "Ada Lovelace", "ada@contoso.com")]

    ops = run_plan(directory(ada, BOB), exts, links, delete_when=["disabled"], start="1000")

    assert [(type(op), op.number, getattr(op, "after_delete", None)) for op in ops] == [
        (Delete, "1000", None), (Create, "1001", None)]


def test_a_held_deletion_holds_the_creation_waiting_for_its_number() -> None:
    ada = user("u-ada", "Ada Lovelace", account_enabled=False,
               properties={"businessPhones": ["2000"]})
    ed = user("u-ed", "Ed Wood", properties={"businessPhones": ["2000"]})
    links = {"u-ada": Link("u-ada", 1, "2000", "Ada Lovelace")}
    ops = run_plan(directory(ada, ed), [ext(1, "2000", "Ada Lovelace", "ada@contoso.com")],
                   links, delete_when=["disabled"], mode="property", property="businessPhones")

    guarded = hold_deletions(ops, lambda op: DELETIONS.get(type(op)), limit=0, allow=False)

    assert guarded.held == (ops[0],) and guarded.to_apply == ()
    assert [row["reason"] for row in guarded.waiting_rows()] == [
        "number 2000 is freed by deleting the extension of Ada Lovelace, which is held back"]


def test_a_drift_in_any_one_owned_field_is_a_change_and_an_email_differing_in_case_is_not(
        ) -> None:
    owned = Owned(first_name="Ada", last_name="Lovelace", email_addr="Ada@example.com",
                  mobile_number="+4412345", title="Analyst")
    synced = Extension(id=1, number="1000", **owned.as_dict())
    drifted = {name: owned.changes(replace(synced, **{name: "changed on the PBX"}))
               for name in OWNED_FIELDS}

    assert owned.changes(synced) == ()
    assert owned.changes(replace(synced, email_addr="ada@EXAMPLE.com")) == ()
    assert drifted == {name: ((name, getattr(owned, name)),) for name in OWNED_FIELDS}
