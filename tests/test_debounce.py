"""The debouncer on a real redis-server: duplicates, windows, and changes a dead run took."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.debounce import Debouncer, Decision


@pytest.fixture
def client(redis_server: Any) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def debouncer(client: redis.Redis) -> Debouncer:
    return Debouncer(client, window=600, max_changes=10)


def running_keys(client: redis.Redis) -> list[bytes]:
    return sorted(client.scan_iter(match="eps:debounce:running:*"))


def test_the_first_change_asks_for_a_run_after_the_window_and_the_tenth_at_once(
        debouncer: Debouncer) -> None:
    first = debouncer.note("users", ["c0"])
    quiet = [debouncer.note("users", [f"c{i}"]) for i in range(1, 9)]
    tenth = debouncer.note("users", ["c9"])

    assert first == Decision(600, 1)
    assert {d.delay for d in quiet} == {None}
    assert tenth == Decision(0, 10)


def test_a_graph_id_seen_before_counts_once_even_after_its_run(debouncer: Debouncer) -> None:
    debouncer.note("users", ["n1", "n1"])
    taken = debouncer.take("users", "run-1")
    debouncer.done("users", "run-1")

    assert taken == ["n1"]
    assert debouncer.note("users", ["n1"]) == Decision(None, 0)
    assert debouncer.pending("users") == 0


def test_a_run_that_dies_leaves_its_changes_for_recover(debouncer: Debouncer,
                                                        client: redis.Redis) -> None:
    debouncer.note("users", ["a", "b", "c"])
    assert debouncer.take("users", "dead-run") == ["a", "b", "c"]
    debouncer.note("users", ["d"])  # arrived while the dead run was running

    # the worker is killed here: neither done() nor give_back() runs
    assert debouncer.recover("users") == 3
    assert running_keys(client) == []
    assert debouncer.take("users", "next-run") == ["a", "b", "c", "d"]


def test_recover_brings_back_every_dead_run_of_the_kind_and_only_that_kind(
        debouncer: Debouncer) -> None:
    debouncer.note("users", ["a"])
    debouncer.take("users", "dead-1")
    debouncer.note("users", ["b", "c"])
    debouncer.take("users", "dead-2")
    debouncer.note("contacts", ["x"])
    debouncer.take("contacts", "dead-3")

    assert debouncer.recover("users") == 3
    assert debouncer.pending("users") == 3
    assert debouncer.pending("contacts") == 0
    assert debouncer.recover("contacts") == 1


def test_recover_with_nothing_left_behind_returns_zero(debouncer: Debouncer) -> None:
    debouncer.note("users", ["a"])

    assert debouncer.recover("users") == 0
    assert debouncer.pending("users") == 1


def test_recover_asks_for_no_run_but_the_next_change_still_does(debouncer: Debouncer,
                                                                client: redis.Redis) -> None:
    debouncer.note("users", ["a"])
    debouncer.take("users", "dead-run")

    debouncer.recover("users")

    assert list(client.scan_iter(match="eps:debounce:scheduled:*")) == []
    assert list(client.scan_iter(match="eps:debounce:now:*")) == []
    # a repeated Graph id re-arms the window too: the recovered change must not wait forever
    assert debouncer.note("users", ["a"]) == Decision(600, 1)


def test_done_after_recover_is_harmless(debouncer: Debouncer) -> None:
    debouncer.note("users", ["a", "b"])
    debouncer.take("users", "dead-run")
    debouncer.recover("users")

    debouncer.done("users", "dead-run")  # a late word from the run thought dead

    assert debouncer.take("users", "next-run") == ["a", "b"]


def test_give_back_after_a_recovery_still_returns_a_failed_run_s_changes(
        debouncer: Debouncer, client: redis.Redis) -> None:
    debouncer.note("users", ["a"])
    debouncer.take("users", "dead-run")
    debouncer.recover("users")
    debouncer.take("users", "failing-run")
    debouncer.note("users", ["b"])

    debouncer.give_back("users", "failing-run")

    assert running_keys(client) == []
    assert debouncer.take("users", "next-run") == ["a", "b"]


def test_status_can_say_when_pending_changes_will_run(debouncer: Debouncer) -> None:
    nothing = debouncer.due_in("users")
    debouncer.note("users", ["a"])
    windowed = debouncer.due_in("users")
    debouncer.note("groups", [f"g{i}" for i in range(10)])  # the limit: at once
    at_once = debouncer.due_in("groups")
    debouncer.take("users", "run-1")

    assert nothing is None
    assert windowed is not None and debouncer.window - 2 < windowed <= debouncer.window
    assert at_once == 0.0
    assert debouncer.due_in("users") is None  # the run took them
