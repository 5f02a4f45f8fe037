"""The Graph half of the probe: each read the product makes, with the product's own parameters,
compared with `assumptions`. Reads only: Graph is never written to."""

from __future__ import annotations

import uuid
from typing import Any

from core.errors import GraphError, SyncError
from core.graph.client import GraphClient
from core.graph.directory import GROUP_SELECT
from core.graph.records import USER_SELECT
from core.probe import assumptions as a
from core.probe.compare import differences, each, values_seen
from core.probe.delta import delta_checks
from core.probe.report import Check, answered, refusal
from core.users.directory import DELETED_SELECT

SHARED_SELECT = ("id", "displayName", "mail", "userPrincipalName")  # core/contacts/mailboxes.py
ADVANCED = {"ConsistencyLevel": "eventual"}
GROUPS_TRIED = 10
MAILBOXES_TRIED = 10


class GraphProbe:
    """Runs the Graph checks in order; later ones use what earlier ones found (ids)."""

    def __init__(self, graph: GraphClient, *, max_pages: int = 100) -> None:
        self.graph = graph
        self.max_pages = max_pages
        self.users: list[dict[str, Any]] = []
        self.disabled: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.shared: list[str] = []
        self.nested: tuple[str, str] | None = None  # (group, a group among its members)
        self.with_members: str | None = None

    def get(self, path: str, params: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> Any:
        return self.graph.request("GET", path, params=params, headers=headers)

    def run(self) -> list[Check]:
        token = Check("graph token", "POST /{tenant}/oauth2/v2.0/token (client credentials)",
                      "graph.md §7.1")
        with answered(token):
            self.graph.token_source.token()
        if not token.same:
            return [token]
        checks = [token, self.users_page(), self.users_paging(), self.disabled_users(),
                  self.user_by_id(), self.unknown_user(), self.deleted_users()]
        checks += delta_checks(self.get, "users/delta", USER_SELECT,
                               a.user_shape(USER_SELECT, delta=True), a.PERMISSIONS["users"],
                               max_pages=self.max_pages)
        checks += [self.groups_page(), self.groups_search()]
        checks += delta_checks(self.get, "groups/delta", (*GROUP_SELECT, "members"),
                               a.group_shape(GROUP_SELECT, delta=True), a.PERMISSIONS["groups"],
                               max_pages=self.max_pages)
        checks += [self.members(), self.transitive_members(), self.mailbox_settings(),
                   self.contacts(), self.presences(), self.subscriptions()]
        return checks

    def collection(self, check: Check, page: Any, item: a.Shape,
                   envelope: a.Shape = a.COLLECTION) -> list[dict[str, Any]]:
        """The page's items, after comparing the page and each item."""
        check.differ(*differences(envelope, page))
        items = page.get("value") if isinstance(page, dict) else None
        items = items if isinstance(items, list) else []
        check.differ(*each(item, items, "value[]"))
        link = page.get("@odata.nextLink") if isinstance(page, dict) else None
        if isinstance(link, str) and "://" not in link:
            check.differ("@odata.nextLink: an absolute URL expected (graph.md §8)")
        return [i for i in items if isinstance(i, dict)]

    # users ---------------------------------------------------------------------------------
    def users_page(self) -> Check:
        check = Check("graph users", "GET /users?$select=(the product's)&$top=999",
                      a.USER_SOURCE, a.PERMISSIONS["users"])
        with answered(check):
            page = self.get("users", {"$select": ",".join(USER_SELECT), "$top": "999"})
            self.users = self.collection(check, page, a.user_shape(USER_SELECT))
            check.note(f"{len(self.users)} users on the first page; userType seen: "
                       f"{', '.join(values_seen(self.users, 'userType')) or 'none'}")
        return check

    def users_paging(self) -> Check:
        check = Check("graph users paging", "GET /users?$select=id,displayName&$top=2, then its "
                      "@odata.nextLink", "graph.md §3.1 paging, §8", a.PERMISSIONS["users"])
        select = ("id", "displayName")
        with answered(check):
            page = self.get("users", {"$select": ",".join(select), "$top": "2"})
            first = self.collection(check, page, a.user_shape(select))
            if len(first) > 2:
                check.differ(f"value: at most 2 items expected with $top=2, {len(first)} found")
            if isinstance(page.get("@odata.nextLink"), str):
                second = self.collection(check, self.get(page["@odata.nextLink"]),
                                         a.user_shape(select))
                if {u.get("id") for u in first} & {u.get("id") for u in second}:
                    check.differ("the next page repeats users of the first")
            elif len(self.users) > 2:
                check.differ("@odata.nextLink: missing with $top=2 while more users exist")
            else:
                check.note("fewer than 3 users: paging not exercised")
        return check

    def disabled_users(self) -> Check:
        check = Check("graph users disabled", "GET /users?$filter=accountEnabled eq false"
                      "&$select=id,displayName,mail,userPrincipalName", a.USER_SOURCE,
                      a.PERMISSIONS["users"])
        with answered(check):
            page = self.get("users", {"$filter": "accountEnabled eq false",
                                      "$select": ",".join(SHARED_SELECT), "$top": "999"})
            self.disabled = self.collection(check, page, a.user_shape(SHARED_SELECT))
        return check

    def user_by_id(self) -> Check:
        select = ("id", "mail", "accountEnabled")
        check = Check("graph user by id", "GET /users/{id}?$select=id,mail,accountEnabled",
                      a.USER_SOURCE, a.PERMISSIONS["users"])
        if not self.users:
            check.note("no user to read")
            return check
        with answered(check):
            body = self.get(f"users/{self.users[0]['id']}", {"$select": ",".join(select)})
            check.differ(*differences(a.user_shape(select), body))
        return check

    def unknown_user(self) -> Check:
        expected = a.USER_NOT_FOUND
        check = Check("graph user unknown id", "GET /users/{a random id}", expected.source,
                      a.PERMISSIONS["users"])
        try:
            self.get(f"users/{uuid.uuid4()}", {"$select": "id"})
        except GraphError as exc:
            if exc.status == 403:
                check.differ(refusal(exc, check.permission))
            elif (exc.status, exc.code) != (expected.status, expected.code):
                check.differ(f"HTTP {exc.status} {exc.code}: {expected.status} {expected.code} "
                             "expected" + (" (no error.code in the body, graph.md §9.6)"
                                           if exc.code.startswith("HTTP") else ""))
        except SyncError as exc:
            check.differ(refusal(exc))
        else:
            check.differ(f"a user for a random id: {expected.status} expected")
        return check

    def deleted_users(self) -> Check:
        check = Check("graph deletedItems users", "GET /directory/deletedItems/microsoft.graph.user"
                      "?$select=id,displayName,userPrincipalName,mail&$top=999",
                      "graph.md §3.2 deleted items (OData cast)", a.PERMISSIONS["users"])
        with answered(check):
            page = self.get("directory/deletedItems/microsoft.graph.user",
                            {"$select": ",".join(DELETED_SELECT), "$top": "999"})
            if not self.collection(check, page, a.user_shape(DELETED_SELECT)):
                check.note("no deleted users: their shape was not checked")
        return check

    # groups --------------------------------------------------------------------------------
    def groups_page(self) -> Check:
        check = Check("graph groups", "GET /groups?$select=(the product's)&$top=999",
                      a.GROUP_SOURCE, a.PERMISSIONS["groups"])
        with answered(check):
            page = self.get("groups", {"$select": ",".join(GROUP_SELECT), "$top": "999"})
            self.groups = self.collection(check, page, a.group_shape(GROUP_SELECT))
        return check

    def groups_search(self) -> Check:
        check = Check("graph groups search", "GET /groups?$search=\"displayName:…\"&$orderby="
                      "displayName&$count=true (ConsistencyLevel: eventual)", a.COUNTED.source,
                      a.PERMISSIONS["groups"])
        name = next((str(g["displayName"]) for g in self.groups if g.get("displayName")), "")
        word = name.split()[0] if name.split() else ""
        if not word:
            check.note("no named group to search for")
            return check
        with answered(check):
            page = self.get("groups", {"$select": ",".join(GROUP_SELECT), "$top": "20",
                                       "$orderby": "displayName", "$count": "true",
                                       "$search": f'"displayName:{word}"'}, ADVANCED)
            found = self.collection(check, page, a.group_shape(GROUP_SELECT), a.COUNTED)
            if not any(g.get("displayName") == name for g in found) and len(found) < 20:
                check.differ("the group searched for by the first word of its name is missing")
        return check

    def members(self) -> Check:
        check = Check("graph group members", "GET /groups/{id}/members?$top=999", a.MEMBER.source,
                      a.PERMISSIONS["groups"])
        kinds: set[str] = set()
        with answered(check):
            for group in self.groups[:GROUPS_TRIED]:
                page = self.get(f"groups/{group['id']}/members", {"$top": "999"})
                items = self.collection(check, page, a.MEMBER)
                self.with_members = self.with_members or (group["id"] if items else None)
                for item in items:
                    kinds.add(str(item.get("@odata.type")))
                    if item.get("@odata.type") == "#microsoft.graph.group" and not self.nested:
                        self.nested = (group["id"], str(item["id"]))
                if {"#microsoft.graph.user", "#microsoft.graph.group"} <= kinds:
                    break
        check.note(f"member types seen: {', '.join(sorted(kinds))}" if kinds
                   else "no group with members: their format was not checked")
        return check

    def transitive_members(self) -> Check:
        check = Check("graph group transitiveMembers", "GET /groups/{id}/transitiveMembers/"
                      "microsoft.graph.user?$select=id&$count=true (ConsistencyLevel: eventual)",
                      a.USER_MEMBER.source + "; nested groups' users included (§3.2)",
                      a.PERMISSIONS["groups"])
        group = self.nested[0] if self.nested else self.with_members
        if group is None:
            check.note("no group with members to read")
            return check
        params = {"$select": "id", "$top": "999", "$count": "true"}
        with answered(check):
            page = self.get(f"groups/{group}/transitiveMembers/microsoft.graph.user", params,
                            ADVANCED)
            ids = {i.get("id") for i in self.collection(check, page, a.USER_MEMBER, a.COUNTED)}
            for _ in range(self.max_pages):
                if not isinstance(page.get("@odata.nextLink"), str):
                    break
                page = self.get(page["@odata.nextLink"], headers=ADVANCED)
                ids |= {i.get("id") for i in self.collection(check, page, a.USER_MEMBER,
                                                             a.COUNTED)}
            if self.nested:
                inner = set(self.graph.group_user_ids(self.nested[1], transitive=True))
                if inner - ids:
                    check.differ(f"{len(inner - ids)} users of a nested group are missing from "
                                 "its parent's transitiveMembers")
                check.note("read on a group holding a nested group")
        return check

    # mail, presence, subscriptions ---------------------------------------------------------
    def _mailboxes(self) -> list[str]:
        enabled = [u for u in self.users if u.get("mail") and u.get("accountEnabled") is not False
                   and u.get("userType") != "Guest"]
        return [str(u["id"]) for u in [*[d for d in self.disabled if d.get("mail")], *enabled]]

    def mailbox_settings(self) -> Check:
        check = Check("graph mailboxSettings", "GET /users/{id}/mailboxSettings",
                      a.MAILBOX_SETTINGS.source, a.PERMISSIONS["mailbox"])
        purposes: set[str] = set()
        with answered(check):
            for user_id in self._mailboxes()[:MAILBOXES_TRIED]:
                try:
                    body = self.get(f"users/{user_id}/mailboxSettings")
                except GraphError as exc:
                    if exc.status == 404:  # no Exchange mailbox: the product skips it too
                        continue
                    raise
                check.differ(*differences(a.MAILBOX_SETTINGS, body))
                purposes.add(str(body.get("userPurpose")))
                if body.get("userPurpose") == "shared":
                    self.shared.append(user_id)
        check.note(f"userPurpose seen: {', '.join(sorted(purposes))}" if purposes
                   else "no mailbox answered: the shape was not checked")
        return check

    def contacts(self) -> Check:
        check = Check("graph contacts", "GET /users/{id}/contacts?$top=1000", a.CONTACT.source,
                      a.PERMISSIONS["contacts"])
        with answered(check):
            for user_id in [*self.shared, *self._mailboxes()][:MAILBOXES_TRIED]:
                try:
                    page = self.get(f"users/{user_id}/contacts", {"$top": "1000"})
                except GraphError as exc:
                    if exc.status == 404:
                        continue
                    raise
                found = self.collection(check, page, a.CONTACT)
                if found:
                    check.note(f"{len(found)} contacts of one mailbox")
                    return check
            check.note("no mailbox tried has contacts: their shape was not checked")
        return check

    def presences(self) -> Check:
        check = Check("graph getPresencesByUserId", "POST /communications/getPresencesByUserId",
                      a.PRESENCE.source, a.PERMISSIONS["presence"])
        ids = [str(u["id"]) for u in self.users[:5]]
        if not ids:
            check.note("no user to ask about")
            return check
        with answered(check):
            body = self.graph.request("POST", "communications/getPresencesByUserId",
                                      json={"ids": ids})
            found = self.collection(check, body, a.PRESENCE)
            if len(found) < len(ids):
                check.note(f"{len(ids) - len(found)} of {len(ids)} users had no presence")
        return check

    def subscriptions(self) -> Check:
        check = Check("graph subscriptions", "GET /subscriptions", a.SUBSCRIPTION.source)
        with answered(check):
            if not self.collection(check, self.get("subscriptions"), a.SUBSCRIPTION):
                check.note("no subscriptions: their shape was not checked")
        return check
