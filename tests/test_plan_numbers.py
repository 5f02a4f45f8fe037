"""A user's number changes: "Edit an Extension" has no `number`, so it is never sent as an edit.

By default the change is reported and the user's other changes still apply; with
`users.numbering.on_change: "recreate"` the extension is deleted and created with the new
number, the deletion counted by the deletion guard.
"""

from __future__ import annotations

from core.engine.guard import hold_deletions
from core.users.plan import NOT_RENUMBERED, RECREATED, owned_fields
from core.users.records import Adopt, Create, Delete, Link, Owned, Skip, Update
from core.users.sync import DELETIONS
from tests.test_plan import directory, ext, run_plan, user

ADA_OWNED = Owned("Ada", "Lovelace", "ada@contoso.com", "", "Engineer")
LINKS = {"u-ada": Link("u-ada", 1, "2000", "Ada Lovelace")}


def renumbered(number: str = "2001") -> object:
    return user("u-ada", "Ada Lovelace", properties={"businessPhones": [number]})


def test_a_changed_number_is_reported_and_the_other_changes_still_apply() -> None:
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com", title="Intern")

    ops = run_plan(directory(renumbered()), [current], LINKS, mode="property",
                   property="businessPhones")

    assert ops == (Update("u-ada", "Ada Lovelace", 1, "2000", (("title", "Engineer"),)),
                   Skip("u-ada", "Ada Lovelace", NOT_RENUMBERED.format(old="2000", new="2001")))
    assert all("number" not in dict(op.changes) for op in ops if isinstance(op, Update))


def test_a_changed_number_alone_is_only_reported() -> None:
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com")

    ops = run_plan(directory(renumbered()), [current], LINKS, mode="property",
                   property="businessPhones")

    assert ops == (Skip("u-ada", "Ada Lovelace", NOT_RENUMBERED.format(old="2000", new="2001")),)


def test_with_recreate_the_extension_is_deleted_and_created_with_the_new_number() -> None:
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com", title="Intern")

    ops = run_plan(directory(renumbered()), [current], LINKS, mode="property",
                   property="businessPhones", on_change="recreate")

    assert ops == (Delete("u-ada", "Ada Lovelace", 1, "2000", RECREATED.format(new="2001")),
                   Create("u-ada", "Ada Lovelace", "2001", ADA_OWNED, recreate=True,
                          after_delete=1))


def test_a_recreation_is_held_by_the_deletion_guard_with_its_creation() -> None:
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com")
    ops = run_plan(directory(renumbered()), [current], LINKS, mode="property",
                   property="businessPhones", on_change="recreate")

    guarded = hold_deletions(ops, lambda op: DELETIONS.get(type(op)), limit=0, allow=False)

    assert guarded.held == (ops[0],) and guarded.waiting == (ops[1],)
    assert guarded.to_apply == ()


def test_a_taken_number_is_reported_in_either_mode_and_other_changes_apply() -> None:
    exts = [ext(1, "2000", "Ada Lovelace", "ada@contoso.com", title="Intern"),
            ext(2, "2001", "Lobby Phone")]

    for on_change in ("report", "recreate"):
        ops = run_plan(directory(renumbered()), exts, LINKS, mode="property",
                       property="businessPhones", on_change=on_change)

        assert ops == (Update("u-ada", "Ada Lovelace", 1, "2000", (("title", "Engineer"),)),
                       Skip("u-ada", "Ada Lovelace", "number 2001 is taken by extension 2001"))


def test_adopting_by_email_never_changes_the_number() -> None:
    existing = ext(9, "3000", "A L", "ada@contoso.com", title="")

    for on_change in ("report", "recreate"):
        ops = run_plan(directory(renumbered()), [existing], mode="property",
                       property="businessPhones", on_change=on_change)

        assert ops[0] == Adopt("u-ada", "Ada Lovelace", 9, "3000", (
            ("first_name", "Ada"), ("last_name", "Lovelace"), ("title", "Engineer")))
        assert isinstance(ops[1], Skip) and ops[1].reason.startswith("number 2001 is not given")
        assert len(ops) == 2


def test_auto_numbering_never_renumbers() -> None:
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com")

    assert run_plan(directory(renumbered()), [current], LINKS, start="1000") == ()


def test_a_mobile_number_keeps_only_what_the_pbx_accepts() -> None:
    spaced = user("u-ada", "Ada Lovelace", mobile_phone=" +1 425 555 0100 ext. 12 / (W) ")
    current = ext(1, "2000", "Ada Lovelace", "ada@contoso.com", mobile="+14255550100ext.12(W)")

    assert owned_fields(spaced).mobile_number == "+14255550100ext.12(W)"
    assert run_plan(directory(spaced), [current], LINKS) == ()
