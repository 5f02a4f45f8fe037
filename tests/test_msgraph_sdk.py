"""Microsoft's Graph SDK for Python as a second client of the Graph simulator.

The product's own client and the simulator were written side by side; `msgraph-sdk` was not. What
it sends (`/users/delta()`, `graph.user` casts, `@odata.type` in every write body) real Graph
accepts, so the simulator must too. The SDK is async: each test runs one `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.communications.get_presences_by_user_id.get_presences_by_user_id_post_request_body import (  # noqa: E501
    GetPresencesByUserIdPostRequestBody,
)
from msgraph.generated.models.contact import Contact
from msgraph.generated.models.group import Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.models.user import User
from msgraph.graph_request_adapter import options as sdk_options
from msgraph_core import GraphClientFactory

from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.test_sandbox_fidelity import Receiver

# The SDK's modules warn as they are imported (lazily, mid-test) that classes these tests do not
# use are deprecated: the per-request configuration classes and Kiota's GetQueryParameters.
pytestmark = [pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning")]
SEEDED = 150  # more than one page of users at Graph's default page size of 100
T = TypeVar("T")


@contextlib.asynccontextmanager
async def graph_sdk(sandbox: Sandbox) -> AsyncIterator[GraphServiceClient]:
    """A GraphServiceClient pointed at the simulator, as one would point it at a national cloud.

    azure-identity takes the login host as `authority=` and the CA file as `connection_verify=`;
    the SDK's httpx client gets the CA through its SSL context and the request adapter takes the
    simulator's `/v1.0` as base URL (the generated client sets graph.microsoft.com only when
    none is set). Explicit scopes, since the SDK would otherwise ask for `https://<host>/.default`.
    """
    described = sandbox.describe()
    credential = ClientSecretCredential(
        described["tenant_id"], described["client_id"], described["client_secret"],
        authority=described["authority_host"], connection_verify=described["ca_bundle"])
    http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=described["ca_bundle"]),
                             trust_env=False, timeout=10)
    http = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_options)
    adapter = GraphRequestAdapter(
        AzureIdentityAuthenticationProvider(credential,
                                            scopes=["https://graph.microsoft.com/.default"]),
        client=http)
    adapter.base_url = described["graph_base_url"]
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await http.aclose()
        await credential.close()


def with_sdk(sandbox: Sandbox, scenario: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with graph_sdk(sandbox) as client:
            return await scenario(client)

    return asyncio.run(run())


def get_config(builder: Any, *, headers: dict[str, str] | None = None,
               **query: Any) -> RequestConfiguration[Any]:
    """A GET's configuration: `query` in the builder's own query-parameter class, `headers`."""
    parameters = getattr(builder, f"{type(builder).__name__}GetQueryParameters")
    config: RequestConfiguration[Any] = RequestConfiguration(
        query_parameters=parameters(**query) if query else None)
    for name, value in (headers or {}).items():
        config.headers.add(name, value)
    return config


async def every_page(first: Any, builder: Any, *, headers: dict[str, str] | None = None
                     ) -> list[Any]:
    """The first page and each one its `@odata.nextLink` leads to, followed as a whole URL.

    Graph does not carry request headers over to nextLink pages; `headers` are sent again.
    """
    pages = [first]
    while pages[-1].odata_next_link:
        pages.append(await builder.with_url(pages[-1].odata_next_link).get(
            get_config(builder, headers=headers)))
    return pages


async def delta_round(first: Any, builder: Any) -> tuple[list[Any], str]:
    """Every item of one delta round and the round's deltaLink."""
    pages = await every_page(first, builder)
    assert all(p.odata_delta_link is None for p in pages[:-1])
    return [item for page in pages for item in page.value], pages[-1].odata_delta_link


def test_users_and_groups_are_listed_page_by_page(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, SEEDED)

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], list[Any]]:
        users = await client.users.get(get_config(
            client.users, select=["id", "displayName", "accountEnabled"]))
        groups = await client.groups.get(get_config(client.groups, top=4))
        return (await every_page(users, client.users), await every_page(groups, client.groups))

    user_pages, group_pages = with_sdk(sandbox, scenario)

    assert [len(p.value) for p in user_pages] == [100, len(store.users.items) - 100]
    users = {u.id: u for page in user_pages for u in page.value}
    assert {i: (u.display_name, u.account_enabled) for i, u in users.items()} == {
        i: (u["displayName"], u["accountEnabled"]) for i, u in store.users.items.items()}
    assert len(group_pages) == -(-len(store.groups.items) // 4) > 1
    groups = [g for page in group_pages for g in page.value]
    assert sorted(g.id for g in groups) == sorted(store.groups.items)
    assert all(isinstance(g, Group) and g.display_name for g in groups)


def test_users_delta_round_shows_created_updated_and_removed_users(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, SEEDED)
    changed, gone = sorted(store.users.items)[:2]

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], list[Any], str]:
        delta = client.users.delta
        initial, link = await delta_round(await delta.get(get_config(
            delta, select=["displayName", "jobTitle"],
            headers={"Prefer": "odata.maxpagesize=60"})), delta)
        created = await client.users.post(User(
            account_enabled=True, display_name="Grace Hopper", mail_nickname="grace",
            user_principal_name=f"grace@{store.domain}",
            password_profile=PasswordProfile(password="Cobol-1959!",
                                             force_change_password_next_sign_in=True)))
        await client.users.by_user_id(changed).patch(User(job_title="Rear Admiral"))
        await client.users.by_user_id(gone).delete()
        following, _ = await delta_round(await client.users.delta.with_url(link).get(),
                                          client.users.delta)
        return initial, following, created.id

    initial, following, created = with_sdk(sandbox, scenario)

    assert sorted(u.id for u in initial) == sorted(set(store.users.items) - {created} | {gone})
    by_id = {u.id: u for u in following}
    assert set(by_id) == {created, changed, gone}
    assert by_id[created].display_name == "Grace Hopper"
    assert by_id[changed].job_title == "Rear Admiral"
    assert by_id[gone].additional_data["@removed"] == {"reason": "changed"}
    assert gone in store.deleted_users


def test_groups_delta_round_shows_added_and_removed_members(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 40)
    group_id = sorted(store.groups.items)[0]
    member = sorted(m for m in store.members[group_id] if m in store.users.items)[0]
    newcomer = sorted(set(store.users.items) - store.members[group_id])[0]

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], list[Any]]:
        initial, link = await delta_round(await client.groups.delta.get(), client.groups.delta)
        group = client.groups.by_group_id(group_id)
        await group.patch(Group(description="Renamed by the SDK"))
        await group.members.by_directory_object_id(member).ref.delete()
        await group.members.ref.post(ReferenceCreate(
            odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{newcomer}"))
        following, _ = await delta_round(await client.groups.delta.with_url(link).get(),
                                         client.groups.delta)
        return initial, following

    initial, following = with_sdk(sandbox, scenario)

    assert sorted(g.id for g in initial) == sorted(store.groups.items)
    (changed,) = following
    assert (changed.id, changed.description) == (group_id, "Renamed by the SDK")
    # the SDK keeps unknown properties in additional_data, reading GUID-like strings as UUIDs
    assert sorted((m | {"id": str(m["id"])} for m in changed.additional_data["members@delta"]),
                  key=lambda m: m["id"] != member) == [
        {"@odata.type": "#microsoft.graph.user", "id": member, "@removed": {"reason": "deleted"}},
        {"@odata.type": "#microsoft.graph.user", "id": newcomer}]
    assert member not in store.members[group_id] and newcomer in store.members[group_id]


def test_transitive_members_come_with_their_selected_fields(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 60)
    parent = next(g for g, members in sorted(store.members.items())
                  if any(m in store.groups.items for m in members))
    expected = store.transitive_members(parent)
    select = ["id", "displayName", "accountEnabled"]
    eventual = {"ConsistencyLevel": "eventual"}  # the cast on transitiveMembers needs it

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], list[Any], int]:
        members = client.groups.by_group_id(parent).transitive_members
        everyone = await every_page(await members.get(get_config(members, select=select)),
                                    members)
        cast = members.graph_user
        users = await every_page(await cast.get(get_config(
            cast, select=select, count=True, top=5, headers=eventual)), cast, headers=eventual)
        return ([m for page in everyone for m in page.value],
                [u for page in users for u in page.value], users[0].odata_count)

    everyone, users, count = with_sdk(sandbox, scenario)

    assert sorted(m.id for m in everyone) == expected
    nested = [m for m in everyone if isinstance(m, Group)]
    assert nested and all(store.groups.items[g.id]["displayName"] == g.display_name
                          for g in nested)
    people = [m for m in everyone if isinstance(m, User)]
    assert {u.id: u.account_enabled for u in people} == {
        i: store.users.items[i]["accountEnabled"] for i in expected if i in store.users.items}
    assert {u.id: (u.display_name, u.account_enabled) for u in users} == {
        u.id: (u.display_name, u.account_enabled) for u in people}
    assert count == len(people) > 5  # the cast came in several pages of 5


def test_subscription_is_created_renewed_and_deleted(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 10)
    someone = sorted(store.users.items)[0]
    receiver = Receiver()
    now = store.clock.now()

    async def scenario(client: GraphServiceClient) -> tuple[Subscription, Subscription]:
        created = await client.subscriptions.post(Subscription(
            change_type="updated,deleted", resource="users", client_state="sdk-state",
            notification_url=receiver.url, lifecycle_notification_url=receiver.url,
            expiration_date_time=now + dt.timedelta(days=1)))
        await client.users.by_user_id(someone).patch(User(office_location="Building 92"))
        receiver.wait_for(1)
        renewed = await client.subscriptions.by_subscription_id(created.id).patch(
            Subscription(expiration_date_time=now + dt.timedelta(days=2)))
        assert created.id in store.subscriptions
        await client.subscriptions.by_subscription_id(created.id).delete()
        return created, renewed

    try:
        created, renewed = with_sdk(sandbox, scenario)
    finally:
        receiver.server.stop()

    assert len(receiver.validations) == 2  # notificationUrl and lifecycleNotificationUrl
    (notification,) = receiver.received
    assert (notification["subscriptionId"], notification["clientState"]) == (created.id,
                                                                             "sdk-state")
    assert notification["resourceData"]["id"] == someone
    assert created.expiration_date_time < renewed.expiration_date_time
    assert renewed.expiration_date_time - now > dt.timedelta(days=2) - dt.timedelta(minutes=1)
    assert created.id not in store.subscriptions


def test_presences_are_read_in_bulk_and_one_by_one(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 20)
    ids = sorted(store.users.items)[:5]

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], Any]:
        bulk = await client.communications.get_presences_by_user_id.post(
            GetPresencesByUserIdPostRequestBody(ids=ids))
        one = await client.users.by_user_id(ids[0]).presence.get()
        return bulk.value, one

    bulk, one = with_sdk(sandbox, scenario)

    assert {p.id: p.availability for p in bulk} == {i: store.presence[i]["availability"]
                                                   for i in ids}
    assert (one.id, one.availability, one.activity) == (
        ids[0], store.presence[ids[0]]["availability"], store.presence[ids[0]]["activity"])
    assert one.out_of_office_settings.is_out_of_office is False


def test_contacts_are_written_and_followed_by_a_delta_round(sandbox: Sandbox) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 20)
    owner = next(uid for uid in store.mailboxes if store.has_mailbox(store.users.items[uid]))

    async def scenario(client: GraphServiceClient) -> tuple[Any, list[Any]]:
        mailbox = client.users.by_user_id(owner)
        folders = await mailbox.contact_folders.get()
        folder = mailbox.contact_folders.by_contact_folder_id(folders.value[0].id)
        _, link = await delta_round(await folder.contacts.delta.get(), folder.contacts.delta)
        made = await mailbox.contacts.post(Contact(given_name="Nadia", surname="Newcontact",
                                                   mobile_phone="+1 555 0142"))
        changes, _ = await delta_round(
            await folder.contacts.delta.with_url(link).get(), folder.contacts.delta)
        return made, changes

    made, changes = with_sdk(sandbox, scenario)

    assert made.id and made.given_name == "Nadia"
    assert [c.id for c in changes] == [made.id]
