"""A believable tenant: members and guests, some disabled, groups of both types (one nested),
extension-like phone numbers, personal contacts (some invalid), shared mailboxes, and users
without an Exchange Online mailbox (the guests and one unlicensed member)."""

from __future__ import annotations

import random
from typing import Any

from sandbox.graph.store import AVAILABILITY, GraphStore

GIVEN = ("Adele", "Alex", "Allan", "Bianca", "Brian", "Cameron", "Christie", "Debra", "Diego",
         "Enrico", "Emily", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia",
         "Lynne", "Megan", "Miriam", "Nestor", "Patti", "Pradeep", "Raul", "Sanjay", "Wei",
         "Yuki", "Zoe", "Amara")
SURNAMES = ("Vance", "Wilber", "Deyoung", "Adams", "Hernandez", "White", "Cline", "Berger",
            "Siciliani", "Ball", "Mueller", "Archie", "Gupta", "Lambert", "Lang", "Sherman",
            "Bowen", "Holloway", "Robbins", "Patel", "Fernandez", "Chen", "Tanaka", "Okafor")
GROUP_NAMES = ("Sales", "Support", "Engineering", "Marketing", "Finance", "Operations", "Legal",
               "Human Resources", "Research", "Facilities")
TITLES = ("Sales Manager", "Support Engineer", "Developer", "Marketing Lead", "Accountant",
          "Operations Analyst", "Counsel", "Recruiter", None)


def seed_tenant(store: GraphStore, users: int, *, rng_seed: int = 7) -> None:
    """Fill `store` with `users` users and their groups, contacts and presence."""
    rng = random.Random(rng_seed)
    domain = store.domain
    with store.lock:
        created = [_user(store, rng, i, domain) for i in range(users)]
        group_ids = _groups(store, rng, users, created)
        for user in created[: min(users, 300)]:
            if rng.random() < 0.35 and user["userType"] == "Member":
                _contacts(store, rng, user["id"], rng.randint(1, 4))
        for index in range(1 if users < 100 else 2):
            _shared_mailbox(store, rng, index)
        if created:
            store.soft_delete_user(created[-1]["id"])
        _without_mailbox(store, created)
        for user in created:
            if user["id"] in store.users.items:
                store.presence[user["id"]].update(availability=rng.choice(AVAILABILITY[:7]))
    del group_ids


def _user(store: GraphStore, rng: random.Random, index: int, domain: str) -> dict[str, Any]:
    given, surname = GIVEN[index % len(GIVEN)], SURNAMES[(index // len(GIVEN)) % len(SURNAMES)]
    suffix = "" if index < len(GIVEN) * len(SURNAMES) else str(index)
    nickname = f"{given}.{surname}{suffix}".lower()
    guest = rng.random() < 0.08
    upn = f"{nickname}_fabrikam.com#EXT#@{domain}" if guest else f"{nickname}@{domain}"
    roll = rng.random()
    phones = ([f"{2000 + index}"] if roll < 0.25
              else [f"+1 425 555 {index % 10000:04d} x{3000 + index}"] if roll < 0.35 else [])
    attributes = {f"extensionAttribute{i}": None for i in range(1, 16)}
    if rng.random() < 0.2:
        attributes["extensionAttribute1"] = str(5000 + index)
    user = {
        "displayName": f"{given} {surname}{suffix}", "givenName": given, "surname": surname,
        "userPrincipalName": upn, "mailNickname": nickname,
        "mail": f"{nickname}@fabrikam.com" if guest else upn,
        "userType": "Guest" if guest else "Member",
        "accountEnabled": rng.random() > 0.06,
        "businessPhones": phones,
        "mobilePhone": f"+1 206 555 {rng.randint(0, 9999):04d}" if rng.random() < 0.7 else None,
        "jobTitle": rng.choice(TITLES), "department": rng.choice(GROUP_NAMES),
        "officeLocation": rng.choice(("Redmond", "Paris", "Shanghai", None)),
        "preferredLanguage": "en-US", "employeeId": f"E{10000 + index}",
        "companyName": "Contoso", "onPremisesExtensionAttributes": attributes,
        "otherMails": [], "usageLocation": "US",
    }
    return store.put_user(user)


def _groups(store: GraphStore, rng: random.Random, users: int,
            created: list[dict[str, Any]]) -> list[str]:
    count = max(3, min(users // 10, 60))
    ids = []
    for index in range(count):
        name = GROUP_NAMES[index % len(GROUP_NAMES)] + (
            "" if index < len(GROUP_NAMES) else f" {index // len(GROUP_NAMES) + 1}")
        unified = index % 2 == 1
        nickname = name.lower().replace(" ", "-")
        group = store.put_group({
            "displayName": name, "description": f"{name} team", "mailNickname": nickname,
            "groupTypes": ["Unified"] if unified else [], "mailEnabled": unified,
            "securityEnabled": not unified, "mail": f"{nickname}@{store.domain}" if unified
            else None, "membershipRule": None, "visibility": "Private" if unified else None})
        ids.append(group["id"])
    for user in created:
        for group_id in rng.sample(ids, k=1 if rng.random() < 0.7 else min(2, len(ids))):
            store.add_member(group_id, user["id"])
    if len(ids) >= 3:
        store.add_member(ids[1], ids[-1])  # one nested group
    return ids


def _contacts(store: GraphStore, rng: random.Random, user_id: str, count: int) -> None:
    folder = store.mailbox(user_id).default_folder
    for _ in range(count):
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        kind = rng.random()
        contact = {
            "displayName": f"{given} {surname}", "givenName": given, "surname": surname,
            "middleName": None, "companyName": rng.choice(("Fabrikam", "Northwind", "Litware")),
            "jobTitle": None, "department": None, "categories": [],
            "emailAddresses": [{"name": f"{given} {surname}",
                                "address": f"{given}.{surname}@northwind.example".lower()}],
            "mobilePhone": f"+44 20 7946 {rng.randint(0, 9999):04d}" if kind < 0.6 else None,
            "businessPhones": [f"+1 312 555 {rng.randint(0, 9999):04d}"] if kind < 0.8 else [],
            "homePhones": [],
        }
        if kind > 0.9:  # invalid per O3: no name
            contact.update(givenName=None, surname=None, displayName="")
        store.put_contact(user_id, folder, contact, "created")


def _without_mailbox(store: GraphStore, created: list[dict[str, Any]]) -> None:
    """Guests have no mailbox in this tenant, nor has one member without an Exchange Online
    licence (the first one seeded without contacts): Outlook answers 404 for them."""
    store.mailboxless.update(u["id"] for u in created if u["userType"] == "Guest")
    unlicensed = next((u for u in created if u["userType"] == "Member"
                       and u["id"] not in store.mailboxes and u["id"] in store.users.items), None)
    if unlicensed is not None:
        store.mailboxless.add(unlicensed["id"])


def _shared_mailbox(store: GraphStore, rng: random.Random, index: int) -> None:
    name = ("Sales Desk", "Reception")[index]
    nickname = name.lower().replace(" ", "-")
    attributes = {f"extensionAttribute{i}": None for i in range(1, 16)}
    box = store.put_user({
        "displayName": name, "givenName": None, "surname": None, "mailNickname": nickname,
        "userPrincipalName": f"{nickname}@{store.domain}", "mail": f"{nickname}@{store.domain}",
        "userType": "Member", "accountEnabled": False, "businessPhones": [], "mobilePhone": None,
        "jobTitle": None, "department": None, "officeLocation": None, "preferredLanguage": None,
        "employeeId": None, "companyName": "Contoso", "onPremisesExtensionAttributes": attributes,
        "otherMails": [], "usageLocation": "US"})
    store.mailbox_settings[box["id"]] = {"userPurpose": "shared", "timeZone": "UTC"}
    _contacts(store, rng, box["id"], 8)
