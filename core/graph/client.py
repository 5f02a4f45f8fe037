"""`GraphClient`: the Microsoft Graph v1.0 reads and subscription calls the product makes.

Collections are read as generators over pages, following `@odata.nextLink` whole. Delta rounds
are read to the end before anything is returned, so a caller either gets a complete round
with its new delta link or an error: never a partial view to act on. Reads of one resource per
object (the members of many groups, the contacts of many mailboxes) go 20 a request through
JSON batching (`core.graph.batch`), each to its last page or its error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

from marshmallow import ValidationError

from core.errors import ApiError, GraphError
from core.graph.batch import BATCH_LIMIT, Read, Result, read_batched, read_one_by_one
from core.graph.records import (
    USER_SELECT,
    EntraContact,
    EntraGroup,
    EntraUser,
    MemberChange,
    Presence,
    Removed,
    graph_error,
    parse_contact,
    parse_group,
    parse_presence,
    parse_user,
)
from core.http import Transport

T = TypeVar("T")
PAGE_SIZE = 999
PRESENCE_IDS_PER_CALL = 650
CONTACTS_PAGE = 1000  # Outlook's largest $top
CHECK_GROUPS_LIMIT = 20  # "You can check up to a maximum of 20 groups per request."
GROUP_SELECT = ("id", "displayName", "groupTypes", "securityEnabled", "mailEnabled")


class TokenSource(Protocol):
    def token(self) -> str: ...
    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class DeltaRound:
    """Everything a delta round reported, and the link that starts the next one."""

    changed: tuple[Any, ...]
    removed: tuple[Removed, ...]
    delta_link: str
    members: tuple[tuple[str, tuple[MemberChange, ...]], ...] = ()


class GraphClient:
    """Reads users, groups, contacts and presence, and manages subscriptions."""

    def __init__(self, *, base_url: str, transport: Transport, token_source: TokenSource,
                 page_size: int = PAGE_SIZE, batching: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.token_source = token_source
        self.page_size = page_size
        self.batching = batching

    # plumbing ----------------------------------------------------------------------------
    def request(self, method: str, path_or_url: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> Any:
        """One call; returns the parsed JSON body (None when empty). Raises GraphError."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url.lstrip('/')}"
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {self.token_source.token()}"}
            response = self.transport.send(method, url, params=params, json=json,
                                           headers=auth | (headers or {}))
            if response.status_code == 401 and attempt == 1:
                self.token_source.invalidate()  # expired or revoked: one fresh token, once
                continue
            break
        if response.status_code >= 400:
            raise graph_error(method, url, response.status_code, response.text,
                              response.headers.get("Location"))
        return response.json() if response.content else None

    def pages(self, path: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following each nextLink as given."""
        body = self.request("GET", path, params=params, headers=headers)
        yield body
        while body.get("@odata.nextLink"):
            body = self.request("GET", body["@odata.nextLink"], headers=headers)
            yield body

    def items(self, path: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.pages(path, params=params, headers=headers):
            yield from page.get("value", [])

    def read_many(self, reads: Sequence[Read]) -> dict[str, Result]:
        """Many GETs, each to its last page or its error (`core.graph.batch`): 20 a `$batch`,
        or one request each when the client was made with `batching=False`."""
        return read_batched(self, reads) if self.batching else read_one_by_one(self, reads)

    # users and groups --------------------------------------------------------------------
    def users(self, *, select: tuple[str, ...] = USER_SELECT,
              filter: str | None = None) -> Iterator[EntraUser]:
        params = {"$select": ",".join(select), "$top": str(self.page_size)}
        if filter:
            params["$filter"] = filter
        for raw in self.items("users", params=params):
            yield _load(parse_user, raw, "user")

    def user(self, user_id: str, *, select: tuple[str, ...] = USER_SELECT) -> EntraUser | None:
        """One user by object id (or user principal name); None when Entra ID has no such user."""
        try:
            raw = self.request("GET", f"users/{quote(user_id, safe='@')}",
                               params={"$select": ",".join(select)})
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        return _load(parse_user, raw, "user")

    def find_users(self, start: str, *, top: int = 25) -> list[EntraUser]:
        """Up to `top` users whose name, user principal name or mail starts with `start`."""
        params = {"$select": "id,displayName,userPrincipalName,mail", "$top": str(top)}
        if start:
            text = start.replace("'", "''")  # OData: a quote inside a string literal is doubled
            params["$filter"] = " or ".join(f"startswith({name},'{text}')" for name in
                                            ("displayName", "userPrincipalName", "mail"))
        body = self.request("GET", "users", params=params)
        return [_load(parse_user, raw, "user") for raw in body.get("value", [])]

    def member_groups(self, user_id: str, group_ids: Sequence[str]) -> set[str]:
        """Which of `group_ids` the user belongs to, through nested groups too (checkMemberGroups)."""
        found: set[str] = set()
        for start in range(0, len(group_ids), CHECK_GROUPS_LIMIT):
            chunk = list(group_ids[start : start + CHECK_GROUPS_LIMIT])
            body = self.request("POST", f"users/{quote(user_id, safe='@')}/checkMemberGroups",
                                json={"groupIds": chunk})
            found.update(str(g) for g in body.get("value", []))
        return found

    def group(self, group_id: str) -> EntraGroup:
        """One group by id."""
        raw = self.request("GET", f"groups/{quote(group_id, safe='')}",
                           params={"$select": ",".join(GROUP_SELECT)})
        return _load(parse_group, raw, "group")

    def deleted_users(self, *, select: tuple[str, ...] = USER_SELECT) -> Iterator[EntraUser]:
        params = {"$select": ",".join(select), "$top": str(self.page_size)}
        for raw in self.items("directory/deletedItems/microsoft.graph.user", params=params):
            yield _load(parse_user, raw, "deleted user")

    def groups(self, *, filter: str | None = None, search: str | None = None,
               top: int | None = None) -> Iterator[EntraGroup]:
        params = {"$select": ",".join(GROUP_SELECT), "$top": str(top or self.page_size)}
        headers = {}
        if filter:
            params["$filter"] = filter
        if search:
            params |= {"$search": f'"displayName:{search}"', "$count": "true"}
            headers["ConsistencyLevel"] = "eventual"
        for raw in self.items("groups", params=params, headers=headers):
            yield _load(parse_group, raw, "group")

    def group_page(self, *, search: str | None = None, cursor: str | None = None,
                   top: int = 200) -> tuple[list[EntraGroup], str | None]:
        """One page of groups by name (the admin's picker, G1), and the cursor of the next.

        The cursor is the query of Graph's nextLink: it only ever goes back to this client's
        `/groups`, whatever a caller hands in.
        """
        headers = {"ConsistencyLevel": "eventual"}  # $search and $orderby with $count
        if cursor:
            body = self.request("GET", f"groups?{cursor.lstrip('?')}", headers=headers)
        else:
            params = {"$select": ",".join(GROUP_SELECT), "$top": str(top),
                      "$orderby": "displayName", "$count": "true"}
            if search:
                params["$search"] = '"displayName:' + search.replace('"', "") + '"'
            body = self.request("GET", "groups", params=params, headers=headers)
        following = body.get("@odata.nextLink")
        return ([_load(parse_group, raw, "group") for raw in body.get("value", [])],
                following.split("?", 1)[1] if following and "?" in following else None)

    def group_user_ids(self, group_id: str, *, transitive: bool = True) -> Iterator[str]:
        """Ids of the users in a group, through nested groups when `transitive`."""
        for raw in self.items(self._members_path(group_id, transitive),
                              headers={"ConsistencyLevel": "eventual"}):
            yield str(raw["id"])

    def members_of(self, group_ids: Iterable[str], *,
                   transitive: bool = True) -> dict[str, list[str]]:
        """The user ids of each group (`group_user_ids` of many, batched); raises the error of
        the first group whose members could not be read whole."""
        ids = list(dict.fromkeys(group_ids))
        results = self.read_many([Read(gid, self._members_path(gid, transitive),
                                       (("ConsistencyLevel", "eventual"),)) for gid in ids])
        return {gid: [str(raw["id"]) for raw in results[gid].values()] for gid in ids}

    def _members_path(self, group_id: str, transitive: bool) -> str:
        relation = "transitiveMembers" if transitive else "members"
        return (f"/groups/{quote(group_id, safe='')}/{relation}/microsoft.graph.user?"
                + query({"$select": "id", "$top": str(self.page_size), "$count": "true"}))

    def users_delta(self, delta_link: str | None = None, *,
                    select: tuple[str, ...] = USER_SELECT) -> DeltaRound:
        return _delta_round(self._delta_pages("users/delta", delta_link, select), parse_user,
                            "user")

    def users_delta_latest(self, *, select: tuple[str, ...] = USER_SELECT) -> str:
        """A delta link that starts now (`$deltatoken=latest`): no data is read."""
        body = self.request("GET", "users/delta", params={"$select": ",".join(select),
                                                          "$deltatoken": "latest"})
        return str(body["@odata.deltaLink"])

    def groups_delta(self, delta_link: str | None = None) -> DeltaRound:
        """Changed groups, with member changes merged across pages (large groups span several)."""
        changed: dict[str, EntraGroup] = {}
        removed = []
        members: dict[str, dict[str, MemberChange]] = {}
        link = None
        for page in self._delta_pages("groups/delta", delta_link, (*GROUP_SELECT, "members")):
            for raw in page.get("value", []):
                if "@removed" in raw:
                    removed.append(Removed(str(raw["id"]), str(raw["@removed"].get("reason"))))
                    continue
                changed[raw["id"]] = _load(parse_group, raw, "group")
                for member in raw.get("members@delta", []):
                    kind = str(member.get("@odata.type", "")).rsplit(".", 1)[-1] or "user"
                    members.setdefault(raw["id"], {})[member["id"]] = MemberChange(
                        str(member["id"]), kind, "@removed" in member)
            link = page.get("@odata.deltaLink", link)
        return DeltaRound(tuple(changed.values()), tuple(removed), str(link),
                          tuple((gid, tuple(m.values())) for gid, m in members.items()))

    def _delta_pages(self, path: str, delta_link: str | None,
                     select: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        if delta_link:
            yield from self.pages(delta_link)
        else:
            yield from self.pages(path, params={"$select": ",".join(select)})

    # mail and presence -------------------------------------------------------------------
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
            yield _load(parse_contact, raw, "contact")

    def contacts_of(self, user_ids: Iterable[str]) -> dict[str, list[EntraContact] | ApiError]:
        """The default Contacts folder of each mailbox (`contacts` of many, batched), or the
        error that kept it from being read whole, for the caller to judge per mailbox."""
        ids = list(dict.fromkeys(user_ids))
        results = self.read_many([Read(uid, f"/users/{quote(uid, safe='@')}/contacts?"
                                       + query({"$top": str(CONTACTS_PAGE)})) for uid in ids])
        found: dict[str, list[EntraContact] | ApiError] = {}
        for uid in ids:
            try:
                found[uid] = [_load(parse_contact, raw, "contact")
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
        return _delta_round(pages, parse_contact, "contact")

    def presences(self, user_ids: list[str]) -> list[Presence]:
        """Presence of many users, 650 ids a call."""
        found = []
        for start in range(0, len(user_ids), PRESENCE_IDS_PER_CALL):
            chunk = user_ids[start : start + PRESENCE_IDS_PER_CALL]
            body = self.request("POST", "communications/getPresencesByUserId", json={"ids": chunk})
            found += [_load(parse_presence, raw, "presence") for raw in body.get("value", [])]
        return found

    def batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run requests 20 at a time through `$batch`; answers in the order asked."""
        answers: dict[str, dict[str, Any]] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = requests[start : start + BATCH_LIMIT]
            body = self.request("POST", "$batch", json={"requests": chunk})
            answers |= {str(r["id"]): r for r in body.get("responses", [])}
        return [answers[str(r["id"])] for r in requests]

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


def query(params: dict[str, str]) -> str:
    """A query string as Graph's pages write it: `$` and `,` left readable."""
    return urlencode(params, quote_via=quote, safe="$,'()")


def _purpose(body: dict[str, Any]) -> str:
    purpose = body.get("userPurpose")
    if isinstance(purpose, dict):  # one revision of the page shows {"value": "shared"}
        purpose = purpose.get("value")
    return str(purpose or "user")


def _delta_round(pages: Iterator[dict[str, Any]], parse: Callable[[dict[str, Any]], Any],
                 what: str) -> DeltaRound:
    """Every page of a delta round, read to its deltaLink."""
    changed, removed, link = [], [], None
    for page in pages:
        for raw in page.get("value", []):
            if "@removed" in raw:
                removed.append(Removed(str(raw["id"]), str(raw["@removed"].get("reason"))))
            else:
                changed.append(_load(parse, raw, what))
        link = page.get("@odata.deltaLink", link)
    if not link:
        raise GraphError("GET", "(delta round)", 200, "", "NoDeltaLink",
                         "the last page of the delta round carried no @odata.deltaLink")
    return DeltaRound(tuple(changed), tuple(removed), str(link))


def _load(parse: Callable[[dict[str, Any]], T], raw: dict[str, Any], what: str) -> T:
    try:
        return parse(raw)
    except ValidationError as exc:
        raise GraphError("GET", "(response body)", 200, str(raw)[:200], "UnexpectedShape",
                         f"a {what} did not parse: {exc.messages}") from None
