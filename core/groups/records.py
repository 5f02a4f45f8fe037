"""Group sync records: links, wanted extension groups, and the operations on them."""

from __future__ import annotations

from dataclasses import dataclass

MAX_GROUPS = 63


@dataclass(frozen=True)
class GroupLink:
    group_id: str
    pbx_group_id: int
    name: str


@dataclass(frozen=True)
class WantedGroup:
    group_id: str
    name: str
    member_user_ids: tuple[str, ...]


@dataclass(frozen=True)
class CreateGroup:
    group_id: str
    name: str
    member_ext_ids: tuple[int, ...]
    recreate: bool = False


@dataclass(frozen=True)
class UpdateGroup:
    group_id: str
    name: str
    pbx_group_id: int
    new_name: str | None
    member_ext_ids: tuple[int, ...] | None


@dataclass(frozen=True)
class DeleteGroup:
    group_id: str
    name: str
    pbx_group_id: int
    reason: str


@dataclass(frozen=True)
class ReleaseGroup:
    group_id: str
    name: str
    pbx_group_id: int
    reason: str


@dataclass(frozen=True)
class SkipGroup:
    group_id: str
    name: str
    reason: str


GroupOperation = CreateGroup | UpdateGroup | DeleteGroup | ReleaseGroup | SkipGroup
