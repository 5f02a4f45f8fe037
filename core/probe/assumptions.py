"""What the simulators assume the real services answer, as data: the keys of each answer, their
JSON types, the values a contract enumerates, and the errors cheap calls show.

Each shape names the section of `contracts/graph.md` or `contracts/yeastar.md` it comes from.
Where a contract is silent and the simulator had to choose, the source says so ("simulator's
choice"): those are the assumptions a real service is most likely to contradict.

A field is `need`ed (every answer carries the key) or `may` be absent; its types are JSON types
(`string`, `integer`, `number`, `boolean`, `array`, `object`, `null`), joined by `|`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Shape:
    """The keys one JSON object is assumed to carry, and where that assumption comes from."""

    source: str
    fields: dict[str, Field] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Field:
    types: tuple[str, ...]
    required: bool = True
    values: tuple[Any, ...] = ()  # the only values the contract allows, when it lists them
    items: Shape | str | None = None  # each element of an array: a shape or a JSON type
    shape: Shape | None = None  # the keys of an object


def need(types: str, **kw: Any) -> Field:
    return Field(tuple(types.split("|")), True, **kw)


def may(types: str, **kw: Any) -> Field:
    return Field(tuple(types.split("|")), False, **kw)


def shape(source: str, **fields: Field) -> Shape:
    return Shape(source, fields)


@dataclass(frozen=True)
class ExpectedError:
    """The refusal a cheap call is assumed to get: an HTTP status and Graph `error.code`, or an
    OpenAPI `errcode`."""

    source: str
    status: int | None = None
    code: str | None = None
    errcode: int | None = None


# Microsoft Graph ---------------------------------------------------------------------------
# The permission docs/setup.md grants for each call: a 403 names it in the report.
PERMISSIONS = {"users": "User.Read.All", "groups": "Group.Read.All",
               "contacts": "Contacts.Read", "mailbox": "MailboxSettings.Read",
               "presence": "Presence.Read.All", "subscriptions": None}

LINK = "string"
COLLECTION = shape("graph.md §3.1 paging, §8 (absolute nextLink)",
                   value=need("array"), **{"@odata.nextLink": may(LINK),
                                           "@odata.context": may("string")})
COUNTED = shape("graph.md §3.2 (advanced query: ConsistencyLevel eventual, $count=true)",
                value=need("array"), **{"@odata.nextLink": may(LINK),
                                        "@odata.count": may("integer")})
DELTA_PAGE = shape("graph.md §2 (a page has a nextLink or a deltaLink, never both)",
                   value=need("array"), **{"@odata.nextLink": may(LINK),
                                           "@odata.deltaLink": may(LINK)})
REMOVED = shape("graph.md §2 (@removed: changed = soft-deleted, deleted = permanently)",
                id=need("string"),
                **{"@removed": need("object", shape=shape(
                    "graph.md §2", reason=need("string", values=("changed", "deleted"))))})

EXTENSION_ATTRIBUTES = shape("graph.md §3.1 onPremisesExtensionAttributes",
                             **{f"extensionAttribute{i}": may("string|null") for i in range(1, 16)})
# A property named in `$select` comes back on every user, null when unset; only a delta round
# leaves never-set properties out (graph.md §2).
USER_FIELDS = {
    "id": need("string"), "displayName": need("string|null"), "givenName": need("string|null"),
    "surname": need("string|null"), "mail": need("string|null"),
    "userPrincipalName": need("string"), "mobilePhone": need("string|null"),
    "businessPhones": need("array", items="string"), "jobTitle": need("string|null"),
    "accountEnabled": need("boolean|null"), "userType": need("string|null",
                                                            values=("Member", "Guest", None)),
    "employeeId": need("string|null"),
    "onPremisesExtensionAttributes": need("object|null", shape=EXTENSION_ATTRIBUTES),
    "officeLocation": need("string|null"), "department": need("string|null"),
}
USER_SOURCE = "graph.md §3.1 user properties ($select)"


def user_shape(select: tuple[str, ...], *, delta: bool = False) -> Shape:
    """A user as answered to `$select=select`; a name without an assumption gets one that
    fails, so the product and the probe cannot drift apart silently."""
    fields = {}
    for name in select:
        known = USER_FIELDS.get(name, need("unknown"))
        fields[name] = Field(known.types, known.required and (name == "id" or not delta),
                             known.values, known.items, known.shape)
    return Shape(USER_SOURCE + (", delta: never-set ones omitted (§2)" if delta else ""), fields)


GROUP_FIELDS = {
    "id": need("string"), "displayName": need("string|null"),
    "groupTypes": need("array", items="string"), "securityEnabled": need("boolean|null"),
    "mailEnabled": need("boolean|null"),
}
GROUP_SOURCE = "graph.md §3.2 groups (groupTypes, mailEnabled, securityEnabled)"


def group_shape(select: tuple[str, ...], *, delta: bool = False) -> Shape:
    fields = {name: GROUP_FIELDS.get(name, need("unknown")) for name in select if name != "members"}
    if delta:
        fields = {name: Field(f.types, name == "id", f.values, f.items, f.shape)
                  for name, f in fields.items()}
        fields["members@delta"] = may("array", items=MEMBER_DELTA)
    return Shape(GROUP_SOURCE, fields)


MEMBER_TYPES = ("#microsoft.graph.user", "#microsoft.graph.group", "#microsoft.graph.device",
                "#microsoft.graph.orgContact", "#microsoft.graph.servicePrincipal")
MEMBER_DELTA = shape("graph.md §2, §9.5 members@delta",
                     id=need("string"),
                     **{"@odata.type": need("string", values=MEMBER_TYPES),
                        "@removed": may("object", shape=shape(
                            "graph.md §2", reason=need("string", values=("deleted",))))})
MEMBER = shape("graph.md §3.2 (members are directoryObjects with @odata.type)",
               id=need("string"), **{"@odata.type": need("string", values=MEMBER_TYPES)})
USER_MEMBER = shape("graph.md §3.2 (cast /microsoft.graph.user, $select=id)",
                    id=need("string"),
                    **{"@odata.type": may("string", values=("#microsoft.graph.user",))})
MAILBOX_SETTINGS = shape("graph.md §12 (shared mailboxes: mailboxSettings.userPurpose)",
                         userPurpose=need("string"))
EMAIL_ADDRESS = shape("graph.md §4 emailAddresses {name, address}",
                      name=may("string|null"), address=need("string|null"))
CONTACT = shape("graph.md §4 contact fields",
                id=need("string"), displayName=need("string|null"),
                givenName=need("string|null"), surname=need("string|null"),
                companyName=need("string|null"), mobilePhone=need("string|null"),
                homePhones=need("array", items="string"),
                businessPhones=need("array", items="string"),
                emailAddresses=need("array", items=EMAIL_ADDRESS))
PRESENCE = shape("graph.md §5, §9.7 getPresencesByUserId",
                 id=need("string"), availability=need("string"), activity=need("string|null"),
                 outOfOfficeSettings=may("object|null"), sequenceNumber=may("string|null"))
SUBSCRIPTION = shape("graph.md §1.1 subscription properties",
                     id=need("string"), resource=need("string"), changeType=need("string"),
                     notificationUrl=need("string"), expirationDateTime=need("string"),
                     clientState=need("string|null"), applicationId=may("string|null"),
                     creatorId=may("string|null"), lifecycleNotificationUrl=may("string|null"),
                     includeResourceData=may("boolean|null"))
ERROR_BODY = shape("graph.md §6, §9.6 error body",
                   error=need("object", shape=shape("graph.md §9.6", code=need("string"),
                                                    message=need("string"))))
# graph.md names no code for an unknown id; the simulator answers Graph's directory code.
USER_NOT_FOUND = ExpectedError("simulator's choice (graph.md silent): 404 Request_ResourceNotFound",
                               status=404, code="Request_ResourceNotFound")


# Yeastar OpenAPI ---------------------------------------------------------------------------
PRESENCE_VALUES = ("available", "away", "business_trip", "do_not_disturb", "lunch", "off_work")
TOKEN = shape("yeastar.md §2.1 get_token response",
              errcode=need("integer", values=(0,)), errmsg=need("string"),
              access_token=need("string"), access_token_expire_time=need("integer"),
              refresh_token=need("string"), refresh_token_expire_time=need("integer"))
SUCCESS = shape("yeastar.md §3 envelope", errcode=need("integer", values=(0,)),
                errmsg=need("string", values=("SUCCESS",)))
LIST = shape("yeastar.md §5 list response", errcode=need("integer", values=(0,)),
             errmsg=need("string"), total_number=need("integer"), data=need("array"))
ONE = shape("yeastar.md §5 (get: data is an object)", errcode=need("integer", values=(0,)),
            data=need("object"))
MANY = shape("yeastar.md §5 (query ids: data is an array)", errcode=need("integer", values=(0,)),
             data=need("array"))
CREATED = shape("yeastar.md §6.3, §15 (an id may or may not be returned)",
                errcode=need("integer", values=(0,)), id=may("integer"))
EXTENSION_ROW = shape("yeastar.md §6.1 Ext_Basicinfo",
                      id=need("integer"), number=need("string"), caller_id_name=need("string"),
                      email_addr=need("string"), mobile_number=need("string"),
                      role_name=may("string"),
                      presence_status=need("string", values=PRESENCE_VALUES),
                      custom_presence_status=may("string"), online_status=may("object"))
EXTENSION_DETAIL = shape("yeastar.md §6.2 Ext_DetailInfo (number, presence_status inferred; "
                         "the client's parser needs number)",
                         id=need("integer"), number=need("string"), type=may("string"),
                         first_name=need("string"), last_name=need("string"),
                         email_addr=need("string"), mobile_number=need("string"),
                         title=need("string"),
                         presence_status=need("string", values=PRESENCE_VALUES))
GROUP_ROW = shape("yeastar.md §8 ExtGroup_info",
                  id=need("integer"), name=need("string"),
                  member_select=need("string", values=("sel_all_ext", "sel_specific")),
                  total_extensions=may("integer"))
GROUP_MEMBER = shape("yeastar.md §8, §15 (Member_info not documented: simulator's choice)",
                     ext_id=need("integer"), user_type=may("string", values=("user", "manager")))
GROUP_DETAIL = shape("yeastar.md §8 ExtGroup_DetailInfo",
                     id=need("integer"), name=need("string"),
                     member_select=need("string", values=("sel_all_ext", "sel_specific")),
                     members=may("array|null", items=GROUP_MEMBER))
PHONEBOOK_REF = shape("yeastar.md §9.1 phonebook_list", id=need("integer"), name=need("string"))
CONTACT_ROW = shape("yeastar.md §9.1 Contact_Info",
                    id=need("integer"), contact_name=need("string"), company=need("string"),
                    email=need("string"), phonebook_list=need("array", items=PHONEBOOK_REF),
                    remark=may("string"),
                    **{name: need("string") for name in (
                        "business", "business2", "mobile", "mobile2", "home", "home2",
                        "business_fax", "home_fax", "other")})
PHONEBOOK_ROW = shape("yeastar.md §9.2 phonebook list row",
                      id=need("integer"), name=need("string"), total=need("integer"),
                      member_select=need("string", values=("sel_all", "sel_specific")))
EXTENSION_NOT_FOUND = ExpectedError("yeastar.md §3.1, §13.4 (unknown id → 60001 DATA NOT FOUND)",
                                    errcode=60001)
