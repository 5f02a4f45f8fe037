"""Personal contacts of many mailboxes at a Graph latency: batched, against one request each.

The read of a contact sync (`core.contacts.sync.read_books`: the default Contacts folder of
every synced user's mailbox, each to its last page) timed three times in one run on the same
tenant: with the product's client (20 reads a `$batch`, `BATCHES_AT_ONCE` batches in flight),
the same with one batch at a time (for comparison), and with `GraphClient(batching=False)`
(one request per mailbox, and one per further page). All must find the same phonebooks.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.rig import Rig
from core.contacts.sync import read_books
from core.graph import batch
from core.users.sync import UserSync

SYNCED_SHARE = 0.9  # about 93% of a seeded tenant's users are synced (enabled, not deleted)


def contacts_read(mailboxes: int, graph_ms: int) -> dict[str, Any]:
    """Times and requests of both reads of `mailboxes` synced users' mailboxes."""
    with Rig(math.ceil(mailboxes / SYNCED_SHARE)) as rig:
        rig.set_concurrency(16)
        rig.sync(UserSync())
        links = sorted(rig.store.user_links())
        if len(links) < mailboxes:
            raise RuntimeError(f"only {len(links)} users were synced, {mailboxes} wanted")
        for user_id in links[mailboxes:]:  # exactly `mailboxes` synced users
            rig.store.drop_link(user_id)
        rules = rig.store.settings()["contacts"]
        rules = {"personal": {**rules["personal"], "enabled": True, "range": "all"},
                 "shared": {**rules["shared"], "enabled": False}}
        rig.latency(pbx_ms=0, graph_ms=graph_ms)
        found: dict[str, Any] = {"mailboxes": mailboxes, "graph_ms": graph_ms}
        books = {}
        at_once = batch.BATCHES_AT_ONCE
        for name, batching, width in (("batched", True, at_once), ("one_batch_at_a_time", True, 1),
                                      ("one_by_one", False, at_once)):
            graph = rig.graph_client(batching=batching)
            rig.reset_counts()
            batch.BATCHES_AT_ONCE = width
            wall = time.perf_counter()
            try:
                read, problems, unread = read_books(graph, rig.store, rules)
            finally:
                batch.BATCHES_AT_ONCE = at_once
            elapsed = time.perf_counter() - wall
            counts = rig.counts()
            books[name] = (read, problems, unread)
            found[name] = {"wall": elapsed, "wire": counts.graph_wire,
                           "batches": counts.graph_count("POST /v1.0/$batch"),
                           "inner": int(counts.graph["batched"]["total"]),
                           "books": len(read), "unread": len(unread)}
        rig.latency(pbx_ms=0, graph_ms=0)
        found["same_books"] = (books["batched"] == books["one_by_one"]
                               == books["one_batch_at_a_time"])
        found["at_once"] = at_once
        found["ratio"] = found["batched"]["wall"] / found["one_by_one"]["wall"]
        found["ratio_one_at_a_time"] = (found["one_batch_at_a_time"]["wall"]
                                        / found["one_by_one"]["wall"])
    return found
