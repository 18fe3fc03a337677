"""The redaction key: what pseudonymises ids in the disclosure-safe reports.

A pseudonym is an HMAC-SHA-256 of the id under the key, so it is only as strong as the key: ids
are sequential, and a short key falls to brute force in a second. The key comes from
RECORDCHECK_REDACTION_KEY and must carry at least 128 bits: 32 or more hex characters, or base64
of 16 bytes or more (`recordcheck keygen` makes one). Without it, a report gets a one-off random
key (pseudonyms then differ from night to night). Each report names the key it used by a key id,
a short HMAC of a fixed string, so a partner can tell a rotation from an error without the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets

from recordcheck.checks.base.errors import ConfigError

REDACTION_KEY_ENV = "RECORDCHECK_REDACTION_KEY"
MIN_KEY_BYTES = 16
"""128 bits: beyond brute force."""
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_KEY_ID_TEXT = b"recordcheck redaction key id"


def parse_key(text: str) -> bytes:
    """The key's bytes from its hex or base64 text; ConfigError (exit 2) when it carries fewer than
    128 bits or is neither. The message never echoes the key."""
    value = text.strip()
    raw: bytes | None = None
    if _HEX.match(value) and len(value) % 2 == 0:
        raw = bytes.fromhex(value)
    else:
        try:
            raw = base64.b64decode(
                value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value or "_" in value else None, validate=True
            )
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{REDACTION_KEY_ENV} must carry at least 128 bits: 32 or more hex characters, or base64 of "
            f"{MIN_KEY_BYTES} bytes or more (this one {'is neither' if raw is None else f'carries {len(raw) * 8} bits'}); "
            "make one with `recordcheck keygen` and keep it with the force's secrets"
        )
    return raw


def redaction_key() -> tuple[bytes, str]:
    """(key, key id): the configured key, checked, or a one-off random key ('one-off')."""
    configured = os.environ.get(REDACTION_KEY_ENV)
    if not configured:
        return secrets.token_bytes(32), "one-off"
    key = parse_key(configured)
    return key, key_id(key)


def key_id(key: bytes) -> str:
    """A short public name for a key: the first 8 hex of an HMAC of a fixed string under it."""
    return hmac.new(key, _KEY_ID_TEXT, hashlib.sha256).hexdigest()[:8]


def new_key() -> str:
    """A fresh 256-bit key as 64 hex characters."""
    return secrets.token_hex(32)
