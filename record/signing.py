"""The record's signing key (RECORD_SIGNING_KEY) and what it signs: checkpoints and manifests.

The key is an Ed25519 private key given as the standard base64 of its 32 raw bytes (44
characters, like a WireGuard key): one line, so it sits in an environment file or a systemd
credential without quoting. It never enters the database. Generate one with

    python -m record.signing generate

and show its public half and fingerprint (to publish in the 公告 and on /record/) with

    RECORD_SIGNING_KEY=… python -m record.signing public-key

Signatures and fingerprints are `cryptography`'s Ed25519; nothing here is home-made.
"""

import base64
import binascii
import hashlib
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tools.verify_record import (
    checkpoint_message,
    format_time,
    manifest_message,
    public_key_fingerprint,
)

ENVIRONMENT_NAME = "RECORD_SIGNING_KEY"

# The key docs/record.md's worked example is signed with: published, so never a real one.
DOCUMENTATION_KEY = hashlib.sha256(b"zibo-vote documentation example key").digest()


class SigningKeyError(ValueError):
    """RECORD_SIGNING_KEY is missing, malformed or weak; the message says which and what to do.

    The settings and the deploy check (`check --deploy`) show this message as it is.
    """


def generate_signing_key():
    """A new random key in the form RECORD_SIGNING_KEY takes."""
    raw = Ed25519PrivateKey.generate().private_bytes_raw()
    return base64.b64encode(raw).decode("ascii")


def load_signing_key(value):
    """RECORD_SIGNING_KEY's value → an Ed25519 private key, or SigningKeyError saying why not."""
    how = "Generate one with `python -m record.signing generate`."
    if value is None or not value.strip():
        raise SigningKeyError(f"{ENVIRONMENT_NAME} is not set. {how}")
    value = value.strip()
    if value.startswith("-----BEGIN"):
        raise SigningKeyError(
            f"{ENVIRONMENT_NAME} must be the raw Ed25519 key in base64 (44 characters), not a "
            f"PEM file. {how}"
        )
    try:
        # URL-safe base64 (-, _) is accepted too: some secret stores hand keys out that way.
        raw = base64.b64decode(value.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{ENVIRONMENT_NAME} is not base64. {how}") from None
    if len(raw) != 32:
        raise SigningKeyError(
            f"{ENVIRONMENT_NAME} decodes to {len(raw)} bytes; an Ed25519 private key is exactly "
            f"32 bytes (44 base64 characters). {how}"
        )
    if raw == DOCUMENTATION_KEY:
        raise SigningKeyError(
            f"{ENVIRONMENT_NAME} is the published example key from docs/record.md. {how}"
        )
    # 32 random bytes take about 30 distinct values; fewer than 16 happens by chance less than
    # once in 10^15 tries, and every time someone typed a key by hand ("0000…", "abab…").
    if len(set(raw)) < 16:
        raise SigningKeyError(f"{ENVIRONMENT_NAME} is not a random key. {how}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key_problem(value):
    """The reason this value cannot be the signing key, or None: for the deploy check."""
    try:
        load_signing_key(value)
    except SigningKeyError as error:
        return str(error)
    return None


class Signer:
    """Signs the record's checkpoints and closing-package manifests with one key."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self.private_key = private_key
        self.public_key = private_key.public_key()

    @classmethod
    def from_value(cls, value):
        return cls(load_signing_key(value))

    @classmethod
    def from_environment(cls, environ=None):
        return cls.from_value((os.environ if environ is None else environ).get(ENVIRONMENT_NAME))

    @property
    def public_key_pem(self):
        """The public key as published: SubjectPublicKeyInfo PEM (what openssl reads)."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def fingerprint(self):
        """SHA-256 of the raw public key in groups of four hex digits: what people compare."""
        return public_key_fingerprint(self.public_key)

    def sign(self, message):
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def checkpoint(self, *, poll, size, root, time):
        """A signed checkpoint: {poll, size, root, time, signature} as published.

        root: the log's root (bytes) at `size`; time: an aware datetime, kept to the second.
        The signature covers the first four fields only (tools.verify_record.checkpoint_message).
        """
        body = {"poll": poll, "size": size, "root": root.hex(), "time": format_time(time)}
        return {**body, "signature": self.sign(checkpoint_message(body))}

    def sign_manifest(self, manifest_bytes):
        return self.sign(manifest_message(manifest_bytes))


def main(argv=None):
    """`python -m record.signing generate` | `python -m record.signing public-key`."""
    command = (argv if argv is not None else sys.argv[1:])[:1]
    if command == ["generate"]:
        print(generate_signing_key())
        return 0
    if command == ["public-key"]:
        try:
            signer = Signer.from_environment()
        except SigningKeyError as error:
            print(error, file=sys.stderr)
            return 1
        sys.stdout.write(signer.public_key_pem.decode("ascii"))
        print(f"Fingerprint: {signer.fingerprint}")
        return 0
    print("usage: python -m record.signing generate | public-key", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
