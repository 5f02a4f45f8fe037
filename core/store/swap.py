"""Writes that happen only where Redis still holds what was read: compare-and-set.

A seal opened with an old key is sealed again by whichever process read it, while another
may be saving a new value under the same key (new credentials, a refreshed token cache, a
dropped subscription). Writing back only over the very value read means a re-seal never
undoes such a write; when it loses the race, the next read seals it again.
"""

from __future__ import annotations

from typing import Any

_SWAP = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_SWAP_FIELD = """
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


def swap(redis: Any, key: str, read: str | bytes, new: str) -> bool:
    """Set `key` to `new` if it still holds `read`; whether it did."""
    return bool(redis.eval(_SWAP, 1, key, read, new))


def swap_field(redis: Any, key: str, field: str, read: str | bytes, new: str) -> bool:
    """Set hash field `key.field` to `new` if it still holds `read`; whether it did."""
    return bool(redis.eval(_SWAP_FIELD, 1, key, field, read, new))
