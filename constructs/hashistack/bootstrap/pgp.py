"""The recovery keyholders' PGP public keys, in the form Vault's ``sys/init`` takes them
(``recovery_pgp_keys``: base64 of the binary OpenPGP key).

A key file may be what ``gpg --export --armor`` writes, what ``gpg --export`` writes (binary),
or its base64 (what ``vault operator init -recovery-pgp-keys=<file>`` accepts). Armor is undone
here (RFC 4880 section 6.2), so no ``gpg`` binary is needed; nothing is encrypted here, Vault does
that.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from ..errors import HashistackError

__all__ = ["public_key_base64"]

_ARMOR_BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def _dearmor(text: bytes, where: str) -> bytes:
    lines = text.decode("ascii", errors="replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == _ARMOR_BEGIN.decode())
    except StopIteration:
        raise HashistackError(f"{where}: no '{_ARMOR_BEGIN.decode()}' line") from None
    body: list[str] = []
    in_headers = True
    for line in lines[start + 1:]:
        line = line.strip()
        if line.startswith("-----END PGP PUBLIC KEY BLOCK-----"):
            break
        if in_headers:
            if not line:
                in_headers = False
            elif ":" not in line:  # no armor headers at all
                in_headers = False
                body.append(line)
            continue
        if line.startswith("="):  # the CRC-24 checksum line
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error:
        raise HashistackError(f"{where}: the armored key's body is not base64") from None


def public_key_base64(path: Path, *, where: str) -> str:
    """The key at ``path`` as base64 of its binary OpenPGP form."""
    if not path.is_file():
        raise HashistackError(f"{where} = {str(path)!r}: no such file; export the keyholder's public key with "
                              "`gpg --export --armor <id> > <file>`")
    raw = path.read_bytes()
    if _ARMOR_BEGIN in raw:
        binary = _dearmor(raw, where)
    else:
        try:
            binary = base64.b64decode(raw.strip(), validate=True)
        except binascii.Error:
            binary = raw
    # An OpenPGP public key starts with a public-key packet: tag 6, old (0x98/0x99) or new (0xC6) format.
    if not binary or binary[0] not in (0x98, 0x99, 0x9A, 0xC6):
        raise HashistackError(f"{where} = {str(path)!r}: not an OpenPGP public key (armored, binary or base64 "
                              "as `gpg --export` writes it)")
    return base64.b64encode(binary).decode()
