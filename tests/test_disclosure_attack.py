"""The disclosure-safe outputs attacked as a motivated outsider would (issue 24): the regression
gate for every change to what the redacted report shows. Part: the pseudonym key."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import string

import pytest
from click.testing import CliRunner

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.cli import cli
from recordcheck.reports.disclosure import Pseudonymiser
from recordcheck.reports.keys import REDACTION_KEY_ENV, key_id, parse_key

SEQUENTIAL_IDS = [f"REF{n:07d}" for n in range(1, 501)]
"""What an attacker guesses ids to be: a force's own sequence."""


def brute_force(pseudonyms: set[str], candidate_keys: list[bytes]) -> dict[str, str]:
    """Pseudonym -> id for every pseudonym some candidate key explains, trying every sequential id."""
    recovered: dict[str, str] = {}
    for key in candidate_keys:
        for record_id in SEQUENTIAL_IDS:
            token = "ID-" + hmac.new(key, f"ID|{record_id}".encode(), hashlib.sha256).hexdigest()[:12].upper()
            if token in pseudonyms:
                recovered[token] = record_id
        if recovered:
            return recovered
    return recovered


SHORT_KEYS = [
    "".join(chars).encode()
    for length in (1, 2)
    for chars in itertools.product(string.ascii_lowercase + string.digits, repeat=length)
] + [b"secret", b"password", b"key", b"test-key", b"recordcheck"]
"""Keys a person types: every one or two characters, and the usual words."""


def test_a_weak_key_falls_to_brute_force_and_is_refused():
    """The attack works (so the gate means something): pseudonyms under the key 'x' give up their
    ids at once. Such a key is now refused, naming how to make a proper one and never echoing it."""
    published = {Pseudonymiser(b"x")(record_id) for record_id in SEQUENTIAL_IDS[100:120]}
    recovered = brute_force(published, SHORT_KEYS)
    assert len(recovered) == 20 and recovered[Pseudonymiser(b"x")("REF0000101")] == "REF0000101"
    for weak in ("x", "test-key", "0f" * 15, "c2hvcnQ="):  # 120 bits of hex, 5 bytes of base64
        with pytest.raises(ConfigError, match="at least 128 bits.*recordcheck keygen") as err:
            parse_key(weak)
        assert len(weak) < 3 or weak not in str(err.value)


def test_a_proper_key_gives_nothing_up():
    key = parse_key("5e" * 32)
    published = {Pseudonymiser(key)(record_id) for record_id in SEQUENTIAL_IDS[100:120]}
    assert brute_force(published, SHORT_KEYS) == {}
    assert len(parse_key("a" * 32)) == 16 and len(parse_key("c2VjcmV0IG9mIHRoZSBmb3JjZSwgMTYrIGJ5dGVz")) >= 16


def test_a_weak_key_stops_the_run_before_anything_is_published(tmp_path, monkeypatch):
    from tests.conftest import AS_OF_TEXT, ROOT

    monkeypatch.setenv(REDACTION_KEY_ENV, "hunter2")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", AS_OF_TEXT, "--redact"]
    )
    assert result.exit_code == ExitCode.USAGE_ERROR and "recordcheck keygen" in result.output
    assert "hunter2" not in result.output
    assert not (out / "latest").exists(), "nothing published"


def test_keygen_makes_a_key_the_reports_name_by_its_id(tmp_path):
    made = CliRunner().invoke(cli, ["keygen"])
    key = made.output.splitlines()[0]
    assert made.exit_code == 0 and re.fullmatch(r"[0-9a-f]{64}", key)
    assert f"key id {key_id(bytes.fromhex(key))}" in made.output
    assert key_id(parse_key(key)) != key_id(parse_key("5e" * 32)), "a rotated key has a new id"
