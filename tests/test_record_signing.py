"""RECORD_SIGNING_KEY and the signatures of checkpoints: Ed25519 from `cryptography`."""

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from record.signing import (
    DOCUMENTATION_KEY,
    Signer,
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
    signing_key_problem,
)
from tools.verify_record import canonical_json, checkpoint_message, signature_valid

MOMENT = datetime(2026, 11, 27, 7, 30, 5, 123456, tzinfo=UTC)


def test_a_generated_key_loads_and_signs_checkpoints_the_verifier_accepts():
    signer = Signer.from_value(generate_signing_key())
    checkpoint = signer.checkpoint(poll="p", size=3, root=b"\x01" * 32, time=MOMENT)
    assert checkpoint["time"] == "2026-11-27T15:30:05+08:00"  # Beijing, to the second
    assert checkpoint["root"] == "01" * 32
    assert signature_valid(
        signer.public_key, checkpoint["signature"], checkpoint_message(checkpoint)
    )


def test_the_signature_covers_the_four_fields_and_says_what_it_signs():
    signer = Signer.from_value(generate_signing_key())
    checkpoint = signer.checkpoint(poll="p", size=3, root=b"\x01" * 32, time=MOMENT)
    for field, value in [("poll", "q"), ("size", 4), ("root", "02" * 32),
                         ("time", "2026-11-27T15:30:06+08:00")]:  # fmt: skip
        changed = {**checkpoint, field: value}
        assert not signature_valid(signer.public_key, checkpoint["signature"],
                                   checkpoint_message(changed))  # fmt: skip
    body = {k: checkpoint[k] for k in ("poll", "size", "root", "time")}
    assert checkpoint_message(body) == b"zibo-vote checkpoint v1\n" + canonical_json(body)
    # The same bytes signed without the context line are not a checkpoint signature.
    bare = signer.sign(canonical_json(body))
    assert not signature_valid(signer.public_key, bare, checkpoint_message(body))


def test_a_url_safe_key_is_accepted_too():
    raw = base64.b64decode(generate_signing_key())
    assert load_signing_key(base64.urlsafe_b64encode(raw).decode()).private_bytes_raw() == raw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "RECORD_SIGNING_KEY is not set"),
        ("  ", "RECORD_SIGNING_KEY is not set"),
        ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI...", "not a PEM file"),
        ("this is not base64!", "is not base64"),
        (base64.b64encode(os.urandom(16)).decode(), "decodes to 16 bytes"),
        (base64.b64encode(b"\0" * 32).decode(), "is not a random key"),
        (base64.b64encode(b"ab" * 16).decode(), "is not a random key"),
        (base64.b64encode(DOCUMENTATION_KEY).decode(), "published example key"),
    ],
)
def test_missing_malformed_and_weak_keys_are_refused_saying_why(value, message):
    with pytest.raises(SigningKeyError, match=message) as caught:
        load_signing_key(value)
    assert "python -m record.signing generate" in str(caught.value)
    assert signing_key_problem(value) == str(caught.value)


def test_a_good_key_has_no_problem():
    assert signing_key_problem(generate_signing_key()) is None


def test_from_environment_reads_record_signing_key():
    key = generate_signing_key()
    signer = Signer.from_environment({"RECORD_SIGNING_KEY": key})
    assert Signer.from_value(key).fingerprint == signer.fingerprint
    with pytest.raises(SigningKeyError):
        Signer.from_environment({})


def test_the_public_key_is_pem_and_the_fingerprint_sixteen_groups():
    signer = Signer.from_value(generate_signing_key())
    assert signer.public_key_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    groups = signer.fingerprint.split(" ")
    assert len(groups) == 16 and all(len(g) == 4 and g == g.upper() for g in groups)


def test_the_command_line_generates_a_key_and_shows_its_public_half():
    generated = subprocess.run([sys.executable, "-m", "record.signing", "generate"],
                               capture_output=True, text=True, check=True)  # fmt: skip
    key = generated.stdout.strip()
    assert signing_key_problem(key) is None
    shown = subprocess.run(
        [sys.executable, "-m", "record.signing", "public-key"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RECORD_SIGNING_KEY": key},
    )
    assert shown.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert f"Fingerprint: {Signer.from_value(key).fingerprint}" in shown.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "record.signing", "public-key"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "RECORD_SIGNING_KEY"},
    )
    assert refused.returncode == 1 and "RECORD_SIGNING_KEY is not set" in refused.stderr
