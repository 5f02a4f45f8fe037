"""`DirectoryReads`: the users and groups of Entra ID, one by one, by page, batched and by delta."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

from core.errors import GraphError
from core.graph.batch import Read
from core.graph.delta import DeltaRound, delta_round
from core.graph.records import (
    USER_SELECT,
    EntraGroup,
    EntraUser,
    MemberChange,
    Removed,
    parse_group,
    parse_user,
)
from core.graph.session import GraphSession, load, query

CHECK_GROUPS_LIMIT = 20  # "You can check up to a maximum of 20 groups per request."
GROUP_SELECT = ("id", "displayName", "groupTypes", "securityEnabled", "mailEnabled")


class DirectoryReads(GraphSession):
    """Reads users and groups, their memberships, and their delta rounds."""

    def users(self, *, select: tuple[str, ...] = USER_SELECT,
              filter: str | None = None) -> Iterator[EntraUser]:
        params = {"$select": ",".join(select), "$top": str(self.page_size)}
        if filter:
            params["$filter"] = filter
        for raw in self.items("users", params=params):
            yield load(parse_user, raw, "user")

    def user(self, user_id: str, *, select: tuple[str, ...] = USER_SELECT) -> EntraUser | None:
        """One user by object id (or user principal name); None when Entra ID has no such user."""
        try:
            raw = self.request("GET", f"users/{quote(user_id, safe='@')}",
                               params={"$select": ",".join(select)})
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        return load(parse_user, raw, "user")

    def find_users(self, start: str, *, top: int = 25) -> list[EntraUser]:
        """Up to `top` users whose name, user principal name or mail starts with `start`."""
        params = {"$select": "id,displayName,userPrincipalName,mail", "$top": str(top)}
        if start:
            text = start.replace("'", "''")  # OData: a quote inside a string literal is doubled
            params["$filter"] = " or ".join(f"startswith({name},'{text}')" for name in
                                            ("displayName", "userPrincipalName", "mail"))
        body = self.request("GET", "users", params=params)
        return [load(parse_user, raw, "user") for raw in body.get("value", [])]

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
        return load(parse_group, raw, "group")

    def deleted_users(self, *, select: tuple[str, ...] = USER_SELECT) -> Iterator[EntraUser]:
        params = {"$select": ",".join(select), "$top": str(self.page_size)}
        for raw in self.items("directory/deletedItems/microsoft.graph.user", params=params):
            yield load(parse_user, raw, "deleted user")

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
            yield load(parse_group, raw, "group")

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
        return ([load(parse_group, raw, "group") for raw in body.get("value", [])],
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
        return delta_round(self._delta_pages("users/delta", delta_link, select), parse_user,
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
                changed[raw["id"]] = load(parse_group, raw, "group")
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
