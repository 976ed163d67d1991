"""TLS settings shared by every client (IMAP, SMTP, the setup check): one rule, one place.

Certificates are verified against the system store or ``ca_file``. A SHA-256 ``fingerprint``
pins the one certificate we accept: given alone it replaces CA verification (self-signed
servers), given with ``ca_file`` both must pass. The pin is checked after the handshake.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from pathlib import Path

__all__ = [
    "PinMismatch",
    "client_context",
    "normalise_fingerprint",
    "peer_fingerprint",
    "verify_pin",
]


class PinMismatch(Exception):
    """The server's certificate is not the pinned one; ``actual`` is what it was (or None)."""

    def __init__(self, actual: str | None) -> None:
        super().__init__(
            f"the server certificate is sha256:{actual}, not the pinned one"
            if actual
            else "no server certificate to check the fingerprint against"
        )
        self.actual = actual


def client_context(ca_file: Path | None, fingerprint: str | None) -> ssl.SSLContext:
    """An SSL context for a client connection under the rule above."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    if fingerprint and ca_file is None:
        # The pin, checked after the handshake, is stricter than any CA: it names the one
        # certificate we accept.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def normalise_fingerprint(fingerprint: str) -> str:
    """``sha256:AB:CD...`` or ``abcd...`` to plain lower-case hex."""
    return fingerprint.lower().removeprefix("sha256:").replace(":", "").strip()


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The SHA-256 of the peer's certificate (DER) in lower-case hex, or None."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return hashlib.sha256(der).hexdigest() if der else None


def verify_pin(ssl_object: ssl.SSLObject | ssl.SSLSocket | None, fingerprint: str) -> None:
    """Raise ``PinMismatch`` unless the peer's certificate is the pinned one."""
    actual = peer_fingerprint(ssl_object)
    if actual is None or not hmac.compare_digest(normalise_fingerprint(fingerprint), actual):
        raise PinMismatch(actual)
