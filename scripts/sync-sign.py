#!/usr/bin/env python3
"""Reference signer for edgeid signed deltas (docs/sync-protocol.md, "Signed deltas").

Needs the `cryptography` package from PyPI (`pip install cryptography`); the Rust test suite
runs without it (the test that calls this script is skipped when it is missing).

  sync-sign.py new-key KEYFILE                 write a new secret key (PEM, PKCS#8, mode 0600)
  sync-sign.py public-key --key KEYFILE        print the public key (base64) and its key id
  sync-sign.py sign --key KEYFILE DELTA...     write DELTA.sig beside each DELTA
  sync-sign.py verify --public-key B64 DELTA [SIGFILE]

KEYFILE is a PEM private key, or 64 hex digits: the 32-byte Ed25519 seed (test vectors only).
The signature covers the delta file's exact bytes: sign the bytes you send, after any
formatting, and never re-serialise the JSON after signing.
"""

import base64
import hashlib
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

FORMAT = "edgeid.sig/1"
ALGORITHM = "ed25519"


def raw_public(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(raw):
    """First 8 bytes of the SHA-256 of the raw 32-byte public key, lowercase hex."""
    return hashlib.sha256(raw).digest()[:8].hex()


def load_key(path):
    data = open(path, "rb").read()
    text = data.strip()
    if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.decode()))
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        sys.exit(f"{path}: not an Ed25519 key")
    return key


def envelope(key, delta):
    """The envelope line (with its line feed) for the exact bytes `delta`."""
    sig = key.sign(delta)
    kid = key_id(raw_public(key.public_key()))
    return f"{FORMAT} {ALGORITHM} {kid} {base64.b64encode(sig).decode()}\n"


def parse_envelope(text):
    line = text[:-1] if text.endswith("\n") else text
    fields = line.split(" ")
    if len(fields) != 4 or fields[0] != FORMAT or fields[1] != ALGORITHM:
        raise ValueError("not an edgeid.sig/1 ed25519 envelope")
    return fields[2], base64.b64decode(fields[3], validate=True)


def main(argv):
    if len(argv) >= 2 and argv[0] == "new-key":
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        raw = raw_public(key.public_key())
        print(f"{base64.b64encode(raw).decode()} {key_id(raw)}")
        return 0
    if len(argv) == 3 and argv[0] == "public-key" and argv[1] == "--key":
        raw = raw_public(load_key(argv[2]).public_key())
        print(f"{base64.b64encode(raw).decode()} {key_id(raw)}")
        return 0
    if len(argv) >= 4 and argv[0] == "sign" and argv[1] == "--key":
        key = load_key(argv[2])
        for path in argv[3:]:
            with open(path, "rb") as f:
                delta = f.read()
            with open(path + ".sig", "w", newline="\n") as f:
                f.write(envelope(key, delta))
        return 0
    if len(argv) in (4, 5) and argv[0] == "verify" and argv[1] == "--public-key":
        raw = base64.b64decode(argv[2], validate=True)
        delta_path = argv[3]
        sig_path = argv[4] if len(argv) == 5 else delta_path + ".sig"
        kid, sig = parse_envelope(open(sig_path, encoding="utf-8").read())
        if kid != key_id(raw):
            print(f"signed with key {kid}, not {key_id(raw)}")
            return 1
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(sig, open(delta_path, "rb").read())
        except InvalidSignature:
            print("signature does not match")
            return 1
        print("ok")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
