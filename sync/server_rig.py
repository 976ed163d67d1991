"""What the private test servers (``sync.dovecot``, ``sync.cyrus``) share: a free loopback
port, a self-signed certificate, the greeting probe, and killing a server's process group.

No I/O at import; nothing here knows which server it serves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

__all__ = [
    "HOST",
    "free_port",
    "greets",
    "kill_leftovers",
    "make_certificate",
    "signal_group",
]

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port free just now (another process may take it before the server binds:
    the servers' start retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def make_certificate(
    directory: Path, *, missing: type[Exception], failed: type[Exception]
) -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1/localhost with the ``openssl`` CLI;
    return (cert, key). Raises ``missing`` without openssl, ``failed`` when it fails.

    The stdlib cannot create certificates. The extensions make it a valid trust anchor and a valid
    server certificate at once, so it verifies under OpenSSL's strict X.509 checks too.
    """
    cert = directory / "server.pem"
    key = directory / "server.key"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise missing("the openssl command is missing (on Debian: apt-get install openssl)")
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise failed(f"openssl could not make a certificate: {result.stderr.strip()}")
    key.chmod(0o600)
    return cert, key


def greets(port: int, context: ssl.SSLContext | None = None) -> bool:
    """True when an IMAP greeting (RFC 3501 7.1.1 ``* OK``) arrives on the port (over TLS
    with ``context``)."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as raw:
            if context is None:
                return raw.recv(512).startswith(b"* OK")
            with context.wrap_socket(raw, server_hostname=HOST) as tls:
                return tls.recv(512).startswith(b"* OK")
    except (OSError, ssl.SSLError):
        return False


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to a process group, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def kill_leftovers(
    process: subprocess.Popen[bytes], stop_timeout: float, runtime_dir: Path | None = None
) -> None:
    """At exit, for a server nobody stopped: kill its whole process group (and remove its
    runtime directory, when it has one of its own)."""
    if process.returncode is None:
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            process.wait(stop_timeout)
    if runtime_dir is not None:
        shutil.rmtree(runtime_dir, ignore_errors=True)
