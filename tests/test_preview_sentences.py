"""The sentences of a preview, from planned rows: ranges, names, and every part's nouns."""

from __future__ import annotations

from typing import Any

from core.engine.preview import names, number_ranges, preview_sentences


def rows(part: str, outcome: str, *found: tuple[str, str], reason: str = "",
         object_id: str = "id") -> list[dict[str, Any]]:
    return [{"part": part, "outcome": outcome, "name": name, "object_id": object_id,
             "extension": extension, "reason": reason, "planned": True}
            for name, extension in found]


def test_consecutive_numbers_collapse_into_ranges() -> None:
    numbers = [str(n) for n in range(1000, 1045)] + ["1050", "1046", "1047"]

    assert number_ranges(numbers) == "1000\u20131044, 1046\u20131047, 1050"
    assert number_ranges(["2000"]) == "2000"
    assert number_ranges([]) == ""


def test_names_stop_at_five_and_say_how_many_more() -> None:
    found = rows("users", "adopted", *((f"User {i}", str(1000 + i)) for i in range(7)))

    assert names(found, numbered=True) == ("User 0 (1000), User 1 (1001), User 2 (1002), "
                                           "User 3 (1003), User 4 (1004) and 2 more")


def test_a_users_preview_tells_creates_adoptions_updates_releases_and_deletions() -> None:
    planned = (rows("users", "created", *((f"U{i}", str(1000 + i)) for i in range(45)))
               + rows("users", "adopted", ("Ann Lee", "1100"), ("Bob Ray", "1101"),
                      reason="matched by email")
               + rows("users", "updated", ("Cy", "1102"))
               + rows("users", "released", ("Di", "1103"), ("Ed", "1104"),
                      reason="no longer in the sync range"))

    said = preview_sentences(planned, ["users"], limit=50)

    assert said == [
        "45 extensions will be created (1000\u20131044)",
        "2 existing extensions will be adopted by email: Ann Lee (1100), Bob Ray (1101)",
        "1 extension will be updated: Cy (1102)",
        "2 extensions will be released (kept on the PBX, no longer synced): Di (1103), "
        "Ed (1104)",
        "0 extensions will be deleted"]


def test_held_deletions_and_skips_are_told_with_the_limit() -> None:
    planned = (rows("users", "held", ("Ann", "1000"), ("Bob", "1001"), ("Cy", "1002"))
               + rows("users", "skipped", ("Di", ""), reason="no free extension number"))

    said = preview_sentences(planned, ["users"], limit=2)

    assert "1 user will be skipped: Di" in said
    assert ("3 deletions will be held back, more than safety.max_deletions (2) in one run: "
            "Ann (1000), Bob (1001), Cy (1002)") in said


def test_groups_and_contacts_say_extension_groups_phonebooks_and_contacts() -> None:
    planned = (rows("groups", "created", ("Sales", "Sales"), ("Support", "Support"))
               + rows("contacts", "created", ("Ann Lee", "Ann Lee"), object_id="mbx/c1")
               + rows("contacts", "created", ("Ann's contacts", "Ann's contacts"),
                      object_id="user:abc")
               + rows("contacts", "deleted", ("Old", "Old"), object_id="mbx/c2"))

    said = preview_sentences(planned, ["users", "groups", "contacts"], limit=50)

    assert said[said.index("2 extension groups will be created: Sales, Support") + 1:][:3] == [
        "0 extension groups will be updated", "0 extension groups will be released "
        "(kept on the PBX, no longer synced)", "0 extension groups will be deleted"]
    assert "1 phonebook will be created: Ann's contacts" in said
    assert "1 contact will be created" in said and "1 contact will be deleted" in said
    assert said[0] == "0 extensions will be created"
