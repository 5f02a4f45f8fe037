"""`MailboxReads`: what the product reads of Exchange Online mailboxes, their settings and their
Outlook contacts, one mailbox at a time, batched, and by delta."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from core.errors import ApiError
from core.graph.batch import Read
from core.graph.delta import DeltaRound, delta_round
from core.graph.records import EntraContact, parse_contact
from core.graph.session import GraphSession, load, query

CONTACTS_PAGE = 1000  # Outlook's largest $top


class MailboxReads(GraphSession):
    """Reads a mailbox's purpose (user or shared) and its contacts."""

    def mailbox_purpose(self, user_id: str) -> str:
        return _purpose(self.request("GET", f"users/{user_id}/mailboxSettings"))

    def mailbox_purposes(self, user_ids: Iterable[str]) -> dict[str, str | ApiError]:
        """The `userPurpose` of each mailbox (batched), or the error of its read (404
        `MailboxNotEnabledForRESTAPI` for an account without a mailbox) for the caller to judge."""
        ids = list(dict.fromkeys(user_ids))
        results = self.read_many([Read(uid, f"/users/{quote(uid, safe='@')}/mailboxSettings",
                                       whole=False) for uid in ids])
        return {uid: results[uid].error or _purpose(results[uid].body()) for uid in ids}

    def contacts(self, user_id: str, folder_id: str | None = None) -> Iterator[EntraContact]:
        path = (f"users/{user_id}/contactFolders/{folder_id}/contacts" if folder_id
                else f"users/{user_id}/contacts")
        for raw in self.items(path, params={"$top": str(CONTACTS_PAGE)}):
            yield load(parse_contact, raw, "contact")

    def contacts_of(self, user_ids: Iterable[str]) -> dict[str, list[EntraContact] | ApiError]:
        """The default Contacts folder of each mailbox (`contacts` of many, batched), or the
        error that kept it from being read whole, for the caller to judge per mailbox."""
        ids = list(dict.fromkeys(user_ids))
        results = self.read_many([Read(uid, f"/users/{quote(uid, safe='@')}/contacts?"
                                       + query({"$top": str(CONTACTS_PAGE)})) for uid in ids])
        found: dict[str, list[EntraContact] | ApiError] = {}
        for uid in ids:
            try:
                found[uid] = [load(parse_contact, raw, "contact")
                              for raw in results[uid].values()]
            except ApiError as exc:
                found[uid] = exc
        return found

    def contact_folder_ids(self, user_id: str) -> list[str]:
        return [str(f["id"]) for f in self.items(f"users/{user_id}/contactFolders")]

    def contacts_delta(self, user_id: str, folder_id: str,
                       delta_link: str | None = None) -> DeltaRound:
        path = f"users/{user_id}/contactFolders/{folder_id}/contacts/delta"
        pages = self.pages(delta_link) if delta_link else self.pages(path)
        return delta_round(pages, parse_contact, "contact")


def _purpose(body: dict[str, Any]) -> str:
    purpose = body.get("userPurpose")
    if isinstance(purpose, dict):  # one revision of the page shows {"value": "shared"}
        purpose = purpose.get("value")
    return str(purpose or "user")
