"""In-memory state of the simulated tenant.

Every write bumps one sequence number and stamps the object with it; delta queries read those
stamps, and each write reports a `Change` to the listeners (the notifier) the way real Graph
would send change notifications.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.control import Clock

USER_PROPERTIES = (
    "id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "mobilePhone",
    "businessPhones", "jobTitle", "officeLocation", "preferredLanguage", "accountEnabled",
    "userType", "onPremisesExtensionAttributes", "employeeId", "department", "companyName",
    "mailNickname", "createdDateTime", "otherMails", "usageLocation",
)
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName")
GROUP_PROPERTIES = (
    "id", "displayName", "description", "groupTypes", "mailEnabled", "securityEnabled", "mail",
    "mailNickname", "createdDateTime", "membershipRule", "visibility", "members",
)
GROUP_DEFAULT = tuple(p for p in GROUP_PROPERTIES if p not in ("id", "members"))
CONTACT_PROPERTIES = (
    "id", "displayName", "givenName", "surname", "middleName", "mobilePhone", "homePhones",
    "businessPhones", "emailAddresses", "companyName", "jobTitle", "department", "parentFolderId",
    "changeKey", "createdDateTime", "lastModifiedDateTime", "categories",
)
AVAILABILITY = ("Available", "AvailableIdle", "Away", "BeRightBack", "Busy", "BusyIdle",
                "DoNotDisturb", "Offline", "PresenceUnknown")


@dataclass(frozen=True)
class Change:
    """One change that subscriptions may hear of: `resource` as in a notification."""

    kind: str  # users | groups | contacts | presence
    change_type: str  # created | updated | deleted
    object_id: str
    owner_id: str = ""  # the mailbox of a contact
    folder_id: str = ""


@dataclass
class Tracked:
    """A collection whose changes delta queries can follow."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: dict[str, int] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)  # id -> "changed" | "deleted"

    def changed_since(self, since: int, after: str) -> list[str]:
        return sorted(i for i, v in self.version.items()
                      if v > since and i > after and not (since == 0 and i in self.removed))


@dataclass
class Mailbox:
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, Tracked] = field(default_factory=dict)  # folder id -> contacts
    default_folder: str = ""


# The application permissions docs/setup.md asks an administrator to grant, and no others: the
# product must work on exactly these (tests/test_graph_strict.py holds the two lists equal).
GRANTED = frozenset({"User.Read.All", "Group.Read.All", "Contacts.Read", "MailboxSettings.Read",
                     "Presence.Read.All"})


@dataclass
class Application:
    """The app registration: `roles` are its application permissions with admin consent;
    `admin_writes` lets its tokens also make an administrator's writes (sandbox/graph/auth.py)."""

    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    secret_expires: float | None = None
    redirect_uris: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=lambda: set(GRANTED))
    admin_writes: bool = True


@dataclass
class GraphStore:
    clock: Clock = field(default_factory=Clock)
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    domain: str = "contoso.com"
    app: Application = field(default_factory=Application)
    users: Tracked = field(default_factory=Tracked)
    groups: Tracked = field(default_factory=Tracked)
    deleted_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    member_log: list[tuple[int, str, str, bool]] = field(default_factory=list)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    mailboxless: set[str] = field(default_factory=set)  # users without an Exchange mailbox
    mailbox_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    presence: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    listeners: list[Callable[[Change], None]] = field(default_factory=list)
    seq: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    # stamping ----------------------------------------------------------------------------
    def _stamp(self, tracked: Tracked, object_id: str) -> int:
        self.seq += 1
        tracked.version[object_id] = self.seq
        return self.seq

    def _emit(self, change: Change) -> None:
        for listener in self.listeners:
            listener(change)

    def now_iso(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    # users -------------------------------------------------------------------------------
    def user(self, key: str) -> dict[str, Any] | None:
        """A user by id or user principal name."""
        found = self.users.items.get(key)
        if found is None:
            lowered = key.lower()
            found = next((u for u in self.users.items.values()
                          if u["userPrincipalName"].lower() == lowered), None)
        return found

    def put_user(self, user: dict[str, Any], *, change_type: str = "updated") -> dict[str, Any]:
        user.setdefault("id", str(uuid.uuid4()))
        user.setdefault("createdDateTime", self.now_iso())
        self.users.items[user["id"]] = user
        self.users.removed.pop(user["id"], None)
        self._stamp(self.users, user["id"])
        self.presence.setdefault(user["id"], {"id": user["id"], "availability": "Offline",
                                              "activity": "Offline", "sequenceNumber": "0"})
        self._emit(Change("users", change_type, user["id"]))
        return user

    def soft_delete_user(self, user_id: str) -> None:
        user = self.users.items.pop(user_id)
        self.deleted_users[user_id] = user | {"deletedDateTime": self.now_iso()}
        self.users.removed[user_id] = "changed"
        self._stamp(self.users, user_id)
        for group_id, members in self.members.items():
            if user_id in members:
                self.remove_member(group_id, user_id)
        self._emit(Change("users", "updated", user_id))

    def purge_user(self, user_id: str) -> None:
        self.deleted_users.pop(user_id)
        self.users.removed[user_id] = "deleted"
        self._stamp(self.users, user_id)
        self._emit(Change("users", "deleted", user_id))

    def restore_user(self, user_id: str) -> dict[str, Any]:
        user = self.deleted_users.pop(user_id)
        user.pop("deletedDateTime", None)
        return self.put_user(user)

    # groups ------------------------------------------------------------------------------
    def put_group(self, group: dict[str, Any]) -> dict[str, Any]:
        group.setdefault("id", str(uuid.uuid4()))
        group.setdefault("createdDateTime", self.now_iso())
        self.groups.items[group["id"]] = group
        self.groups.removed.pop(group["id"], None)
        self.members.setdefault(group["id"], set())
        self._stamp(self.groups, group["id"])
        self._emit(Change("groups", "updated", group["id"]))
        return group

    def delete_group(self, group_id: str) -> None:
        group = self.groups.items.pop(group_id)
        for member in sorted(self.members.get(group_id, set())):
            self.remove_member(group_id, member)
        for other in list(self.members):
            if group_id in self.members[other]:
                self.remove_member(other, group_id)
        if "Unified" in group.get("groupTypes", []):  # only Microsoft 365 groups are restorable
            self.deleted_groups[group_id] = group | {"deletedDateTime": self.now_iso()}
            self.groups.removed[group_id] = "changed"
        else:
            self.groups.removed[group_id] = "deleted"
        self._stamp(self.groups, group_id)
        self._emit(Change("groups", "deleted" if group_id not in self.deleted_groups
                          else "updated", group_id))

    def add_member(self, group_id: str, member_id: str) -> None:
        self.members.setdefault(group_id, set()).add(member_id)
        seq = self._stamp(self.groups, group_id)
        self.member_log.append((seq, group_id, member_id, True))
        self._emit(Change("groups", "updated", group_id))

    def remove_member(self, group_id: str, member_id: str) -> None:
        self.members[group_id].discard(member_id)
        seq = self._stamp(self.groups, group_id)
        self.member_log.append((seq, group_id, member_id, False))
        self._emit(Change("groups", "updated", group_id))

    def member_changes(self, group_id: str, since: int) -> dict[str, bool]:
        """Net membership changes of a group after `since`: member id -> added."""
        if since == 0:
            return dict.fromkeys(self.members.get(group_id, set()), True)
        net: dict[str, bool] = {}
        for seq, gid, member, added in self.member_log:
            if gid == group_id and seq > since:
                net[member] = added
        return net

    def transitive_members(self, group_id: str) -> list[str]:
        seen: set[str] = set()
        pending = [group_id]
        while pending:
            for member in self.members.get(pending.pop(), set()):
                if member not in seen:
                    seen.add(member)
                    if member in self.groups.items:
                        pending.append(member)
        return sorted(seen)

    def kind_of(self, object_id: str) -> str:
        return "group" if object_id in self.groups.items else "user"

    # contacts ----------------------------------------------------------------------------
    def has_mailbox(self, user: dict[str, Any]) -> bool:
        """Whether the user has an Exchange Online mailbox: not a user without a `mail`
        address, nor one marked `mailboxless` (no licence, a guest, a mailbox on premises)."""
        return bool(user.get("mail")) and user["id"] not in self.mailboxless

    def mailbox(self, user_id: str) -> Mailbox:
        box = self.mailboxes.get(user_id)
        if box is None:
            folder_id = "AAMk" + uuid.uuid4().hex
            box = Mailbox(folders={folder_id: {"id": folder_id, "displayName": "Contacts",
                                               "parentFolderId": "AAMkRoot" + user_id[:8]}},
                          contacts={folder_id: Tracked()}, default_folder=folder_id)
            self.mailboxes[user_id] = box
        return box

    def put_contact(self, user_id: str, folder_id: str, contact: dict[str, Any],
                    change_type: str) -> dict[str, Any]:
        tracked = self.mailbox(user_id).contacts[folder_id]
        now = self.now_iso()
        contact.setdefault("id", "AAMkContact" + uuid.uuid4().hex)
        contact.setdefault("createdDateTime", now)
        contact |= {"parentFolderId": folder_id, "lastModifiedDateTime": now,
                    "changeKey": secrets.token_urlsafe(12)}
        tracked.items[contact["id"]] = contact
        self._stamp(tracked, contact["id"])
        self._emit(Change("contacts", change_type, contact["id"], user_id, folder_id))
        return contact

    def delete_contact(self, user_id: str, folder_id: str, contact_id: str) -> None:
        tracked = self.mailbox(user_id).contacts[folder_id]
        del tracked.items[contact_id]
        tracked.removed[contact_id] = "deleted"
        self._stamp(tracked, contact_id)
        self._emit(Change("contacts", "deleted", contact_id, user_id, folder_id))

    def find_contact(self, user_id: str, contact_id: str) -> tuple[str, dict[str, Any]] | None:
        for folder_id, tracked in self.mailbox(user_id).contacts.items():
            if contact_id in tracked.items:
                return folder_id, tracked.items[contact_id]
        return None

    # presence ----------------------------------------------------------------------------
    def set_presence(self, user_id: str, availability: str, activity: str) -> None:
        current = self.presence[user_id]
        self.seq += 1
        current.update(availability=availability, activity=activity,
                       sequenceNumber=f"{self.seq:020d}")
        self._emit(Change("presence", "updated", user_id))
