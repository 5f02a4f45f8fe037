"""`GraphClient`: the Microsoft Graph v1.0 reads and subscription calls the product makes.

Its parts stand side by side in this package: the authenticated calls, pages and batched
reads in `session`, delta rounds in `delta`, users and groups in `directory`, mailboxes and
their contacts in `mailbox`; presence and subscriptions are here. Collections are read as
generators over pages; delta rounds are read to the end before anything is returned; reads of
one resource per object go 20 a request through JSON batching (`core.graph.batch`).
"""

from __future__ import annotations

from typing import Any

from core.graph.delta import DeltaRound
from core.graph.directory import DirectoryReads
from core.graph.mailbox import MailboxReads
from core.graph.records import Presence, parse_presence
from core.graph.session import PAGE_SIZE, TokenSource, load

# Callers name these through the client, whose module they import anyway.
__all__ = ["PAGE_SIZE", "DeltaRound", "GraphClient", "TokenSource"]

PRESENCE_IDS_PER_CALL = 650


class GraphClient(DirectoryReads, MailboxReads):
    """Reads users, groups, contacts and presence, and manages subscriptions."""

    def presences(self, user_ids: list[str]) -> list[Presence]:
        """Presence of many users, 650 ids a call."""
        found = []
        for start in range(0, len(user_ids), PRESENCE_IDS_PER_CALL):
            chunk = user_ids[start : start + PRESENCE_IDS_PER_CALL]
            body = self.request("POST", "communications/getPresencesByUserId", json={"ids": chunk})
            found += [load(parse_presence, raw, "presence") for raw in body.get("value", [])]
        return found

    # subscriptions -----------------------------------------------------------------------
    def create_subscription(self, *, resource: str, change_type: str, notification_url: str,
                            expiration: str, client_state: str,
                            lifecycle_url: str | None = None,
                            certificate: tuple[str, str] | None = None) -> dict[str, Any]:
        """A subscription; `certificate` is (base64 DER, id) for resources that want one."""
        body = {"changeType": change_type, "notificationUrl": notification_url,
                "resource": resource, "expirationDateTime": expiration,
                "clientState": client_state}
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        if certificate:
            body |= {"includeResourceData": False, "encryptionCertificate": certificate[0],
                     "encryptionCertificateId": certificate[1]}
        return dict(self.request("POST", "subscriptions", json=body))

    def renew_subscription(self, subscription_id: str, expiration: str) -> dict[str, Any]:
        return dict(self.request("PATCH", f"subscriptions/{subscription_id}",
                                 json={"expirationDateTime": expiration}))

    def reauthorize_subscription(self, subscription_id: str) -> None:
        self.request("POST", f"subscriptions/{subscription_id}/reauthorize")

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"subscriptions/{subscription_id}")

    def subscriptions(self) -> list[dict[str, Any]]:
        return list(self.items("subscriptions"))
