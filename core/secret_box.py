"""The keys SECRET_KEY gives, and secrets at rest sealed under one of them.

Two keys are derived from SECRET_KEY with HKDF-SHA256 under distinct labels: one signs the
session cookie, the other seals stored secrets, so neither says anything about the other.
A seal is `v1:<key id>:<Fernet token>` (AES-128-CBC + HMAC-SHA256); the key id, 8 hex digits
of a hash of the sealing key, names the key that made it. After a rotation the old key, kept
in SECRET_KEY_FALLBACKS, still opens old seals, and the stores that can write seal them again
under SECRET_KEY (`stale`). Bare Fernet tokens, sealed before key ids under the first
derivation, still open, and are stale.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import SealError

SIGNING_LABEL = b"entra-pbx-sync session signing v1"
SEALING_LABEL = b"entra-pbx-sync sealing v1"
VERSION = "v1"


def derive(secret_key: str, label: bytes, *, salt: bytes | None = None) -> bytes:
    """32 bytes for one purpose, from SECRET_KEY (or an older key)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=label).derive(secret_key.encode())


def signing_key(secret_key: str) -> bytes:
    """The key that signs session cookies (Flask's SECRET_KEY)."""
    return derive(secret_key, SIGNING_LABEL)


class _Key:
    """One SECRET_KEY's sealing key, its id, and the key of seals from before ids."""

    def __init__(self, secret_key: str) -> None:
        sealing = derive(secret_key, SEALING_LABEL)
        self.id = hashlib.sha256(b"key id " + sealing).hexdigest()[:8]
        self.fernet = Fernet(base64.urlsafe_b64encode(sealing))
        self.legacy = Fernet(base64.urlsafe_b64encode(
            derive(secret_key, b"stored secrets", salt=b"entra-pbx-sync")))


class SecretBox:
    """Seals under SECRET_KEY; opens seals of SECRET_KEY and of every key in `fallbacks`."""

    def __init__(self, secret_key: str, fallbacks: Iterable[str] = ()) -> None:
        keys = dict.fromkeys((secret_key, *fallbacks))
        self._keys = [_Key(key) for key in keys]
        self.key_id = self._keys[0].id

    def seal(self, plaintext: str) -> str:
        token = self._keys[0].fernet.encrypt(plaintext.encode()).decode()
        return f"{VERSION}:{self.key_id}:{token}"

    def open(self, sealed: str) -> str:
        """The plaintext; SealError when no key this box holds opens it."""
        version, _, rest = str(sealed).partition(":")
        if version == VERSION:
            key_id, _, token = rest.partition(":")
            candidates = [key.fernet for key in self._keys if key.id == key_id]
        else:
            key_id, token, candidates = "", str(sealed), [key.legacy for key in self._keys]
        for fernet in candidates:
            try:
                return fernet.decrypt(token.encode()).decode()
            except (InvalidToken, ValueError):
                continue
        raise SealError(key_id)

    def stale(self, sealed: str) -> bool:
        """Whether `sealed` was made under another key than SECRET_KEY (seal it again)."""
        return not str(sealed).startswith(f"{VERSION}:{self.key_id}:")
