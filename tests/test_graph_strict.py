"""The Graph simulator is exactly as strict as Microsoft's pages, over real HTTPS: each call
needs the application permission its page lists, granted to the app as docs/setup.md asks;
users without an Exchange Online mailbox have no contacts, and the product copes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from core.clients import graph_client
from core.config import Settings
from core.contacts.mailboxes import mailboxes_in_range
from core.contacts.sync import ContactSync
from core.engine.engine import run_here
from core.errors import GraphError
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.subscriptions import SubscriptionStore, maintain
from core.sync_settings import merge
from core.users.sync import UserSync
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from tests.test_graph_client import add_users
from tests.test_sandbox_fidelity import Receiver, expiry

SETUP = Path(__file__).parent.parent / "docs" / "setup.md"


@pytest.fixture
def receiver() -> Any:
    hook = Receiver()
    yield hook
    hook.server.stop()


def fresh(settings: Settings) -> GraphClient:
    """A client with a new token: a token carries the permissions granted when it was issued."""
    client = graph_client(settings)
    client.transport.backoff = 0.01
    return client


def denied(call: Any) -> GraphError:
    with pytest.raises(GraphError) as caught:
        call()
    return caught.value


def setup_permissions(kind: str) -> set[str]:
    """The permissions of one kind (Application or Delegated) in docs/setup.md's table."""
    rows = re.findall(r"^\s*\|\s*`([\w.]+)`\s*\|\s*(\w+)\s*\|", SETUP.read_text(), re.M)
    return {name for name, row_kind in rows if row_kind == kind}


def with_mailbox(sandbox: Sandbox) -> str:
    store = sandbox.graph_store
    with store.lock:
        return str(store.put_user({
            "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
            "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com",
            "userType": "Member", "accountEnabled": True, "businessPhones": []})["id"])


# finding 1: every endpoint needs the permission its page lists ----------------------------
def test_the_sandbox_app_is_granted_exactly_the_permissions_setup_md_lists(
        sandbox: Sandbox) -> None:
    asked = setup_permissions("Application")

    assert "MailboxSettings.Read" in asked and "Directory.Read.All" not in asked
    assert sandbox.graph_store.app.roles == asked


def test_mailbox_settings_need_mailbox_settings_read_not_a_directory_permission(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    ada = with_mailbox(sandbox)
    graph_control.post("config", {"granted_roles": ["User.Read.All", "Directory.Read.All",
                                                    "Contacts.Read"]})

    error = denied(lambda: fresh(settings).request("GET", f"users/{ada}/mailboxSettings"))

    assert (error.status, error.code) == (403, "ErrorAccessDenied")


@pytest.mark.parametrize(("permission", "method", "path", "code"), [
    ("User.Read.All", "GET", "users", "Authorization_RequestDenied"),
    ("User.Read.All", "GET", "users/delta", "Authorization_RequestDenied"),
    ("Group.Read.All", "GET", "groups", "Authorization_RequestDenied"),
    ("Contacts.Read", "GET", "users/{ada}/contacts", "ErrorAccessDenied"),
    ("MailboxSettings.Read", "GET", "users/{ada}/mailboxSettings", "ErrorAccessDenied"),
    ("Presence.Read.All", "POST", "communications/getPresencesByUserId", "Forbidden"),
])
def test_each_read_needs_the_permission_its_page_lists(
        sandbox: Sandbox, settings: Settings, graph_control: Control, permission: str,
        method: str, path: str, code: str) -> None:
    ada = with_mailbox(sandbox)
    url = path.format(ada=ada)
    body = {"ids": [ada]} if method == "POST" else None
    fresh(settings).request(method, url, json=body)  # granted as setup.md asks: allowed

    granted = graph_control.post("config", {"revoke": [permission]})["granted_roles"]
    error = denied(lambda: fresh(settings).request(method, url, json=body))

    assert permission not in granted
    assert (error.status, error.code) == (403, code)


@pytest.mark.parametrize(("permission", "resource", "change_type"), [
    ("User.Read.All", "users", "updated,deleted"),
    ("Group.Read.All", "groups", "updated,deleted"),
    ("Contacts.Read", "/users/{ada}/contacts", "created,updated,deleted"),
])
def test_a_subscription_needs_the_read_permission_of_its_resource(
        sandbox: Sandbox, settings: Settings, graph_control: Control, receiver: Receiver,
        permission: str, resource: str, change_type: str) -> None:
    ada = with_mailbox(sandbox)
    graph_control.post("config", {"revoke": [permission]})

    error = denied(lambda: fresh(settings).create_subscription(
        resource=resource.format(ada=ada), change_type=change_type,
        notification_url=receiver.url, expiration=expiry(), client_state="s"))

    assert (error.status, error.code) == (403, "ExtensionError")
    assert "Forbidden" in error.message and receiver.validations == []


def test_write_grants_never_stand_in_for_a_read(sandbox: Sandbox, settings: Settings,
                                                graph_control: Control) -> None:
    (alice,) = add_users(sandbox.graph_store, 1)
    graph_control.post("config", {"granted_roles": []})
    graph = fresh(settings)

    graph.request("PATCH", f"users/{alice}", json={"jobTitle": "Lead"})  # the tenant's admin
    error = denied(lambda: graph.request("GET", f"users/{alice}"))
    graph_control.post("config", {"admin_writes": False})
    refused = denied(lambda: fresh(settings).request("PATCH", f"users/{alice}",
                                                     json={"jobTitle": "Boss"}))

    assert (error.status, error.code) == (403, "Authorization_RequestDenied")
    assert (refused.status, refused.code) == (403, "Authorization_RequestDenied")
    assert sandbox.graph_store.users.items[alice]["jobTitle"] == "Lead"


# finding 2: a user without an Exchange Online mailbox ------------------------------------
def test_a_user_without_a_mailbox_has_no_contacts_settings_or_contact_subscription(
        sandbox: Sandbox, graph: GraphClient, graph_control: Control, receiver: Receiver) -> None:
    ada = with_mailbox(sandbox)  # a `mail` address, but no Exchange Online licence
    graph_control.post("config", {"without_mailbox": [ada]})

    contacts = denied(lambda: graph.request("GET", f"users/{ada}/contacts"))
    settings = denied(lambda: graph.request("GET", f"users/{ada}/mailboxSettings"))
    subscription = denied(lambda: graph.create_subscription(
        resource=f"/users/{ada}/contacts", change_type="created,updated,deleted",
        notification_url=receiver.url, expiration=expiry(), client_state="s"))

    assert (contacts.status, contacts.code) == (404, "MailboxNotEnabledForRESTAPI")
    assert (settings.status, settings.code) == (404, "MailboxNotEnabledForRESTAPI")
    assert (subscription.status, subscription.code) == (404, "ExtensionError")
    assert "REST API is not yet supported for this mailbox" in subscription.message
    assert ada not in sandbox.graph_store.mailboxes and receiver.validations == []
    assert graph.request("GET", f"users/{ada}")["mail"] == "ada@contoso.com"  # still a user


def test_the_seeded_tenant_has_guests_and_an_unlicensed_member_without_mailbox(
        sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 40)

    users = store.users.items
    guests = {uid for uid, u in users.items() if u["userType"] == "Guest"}
    members = {uid for uid, u in users.items() if u["userType"] == "Member"}

    assert guests and guests <= store.mailboxless
    assert store.mailboxless & members
    assert not store.mailboxless & set(store.mailboxes)  # none of them has contacts


@pytest.fixture
def synced(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> str:
    """A tenant synced to the PBX, contacts on; the id of a synced member without a mailbox."""
    store = sandbox.graph_store
    seed_tenant(store, 40)  # the user range is "all": guests are synced too
    run_here([UserSync()], graph=graph, pbx=pbx, store=state)
    state.save_settings(merge(state.settings(), {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}},
        "schedule": {"timezone": "UTC"}}))
    links = state.user_links()
    return next(uid for uid in sorted(store.mailboxless)  # the unlicensed member, not a guest
                if uid in links and store.users.items[uid]["userType"] == "Member")


def test_contact_subscriptions_leave_out_synced_users_without_a_mailbox(
        sandbox: Sandbox, graph: GraphClient, state: StateStore, synced: str,
        receiver: Receiver) -> None:
    store = sandbox.graph_store
    mailboxes = [m for _, _, m in mailboxes_in_range(graph, state, state.settings()["contacts"])]

    subs = maintain(graph, SubscriptionStore(state, SecretBox("k" * 32)),
                    notification_url=receiver.url, lifecycle_url=receiver.url,
                    now=dt.datetime.now(dt.UTC), contact_mailboxes=mailboxes)

    watched = {s["resource"] for s in subs}
    with_box = {uid for uid in state.user_links() if uid not in store.mailboxless}
    assert len(store.mailboxless & set(state.user_links())) >= 2  # guests and the unlicensed
    assert not store.mailboxless & set(mailboxes)
    assert {f"/users/{uid}/contacts" for uid in with_box} <= watched
    assert {"users", "groups"} <= watched and f"/users/{synced}/contacts" not in watched


def test_contacts_run_treats_a_user_without_mailbox_as_no_contacts_and_names_a_shared_one(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        synced: str) -> None:
    store = sandbox.graph_store
    sales = next(u for u in store.users.items.values() if u["displayName"] == "Sales Desk")
    nobox = store.users.items[synced]
    state.save_settings(merge(state.settings(), {"contacts": {"shared": {
        "range": "mailboxes", "mailboxes": [
            {"mailbox": sales["mail"], "phonebook": "Sales"},
            {"mailbox": nobox["mail"], "phonebook": "Nobody"}]}}}))

    run = run_here([ContactSync()], graph=graph, pbx=pbx, store=state)

    books = {b["name"] for b in pbx.phonebooks()}
    assert run["state"] == "succeeded" and run["counts"]["failed"] == 0
    assert "Sales" in books and "Nobody" not in books
    assert [r["reason"] for r in run["skipped"] if r.get("mailbox") == nobox["mail"].lower()] == [
        "has no Exchange Online mailbox"]
