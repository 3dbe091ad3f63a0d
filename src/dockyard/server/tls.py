"""TLS for the API server.

kubectl (client-go's clientcmd) only sends a kubeconfig's credentials over HTTPS, so the server
always serves TLS. Without a configured certificate it makes a self-signed one (with the
``openssl`` command: no Python crypto dependency) valid for the loopback names, and
``dockyard kubeconfig`` embeds it as the cluster's certificate authority.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsSetupError(RuntimeError):
    """The certificate could not be made; the message says what to do."""


def _san(names: tuple[str, ...]) -> str:
    entries = []
    for name in names:
        is_ip = name.replace(".", "").isdigit() or ":" in name
        entries.append(f"{'IP' if is_ip else 'DNS'}:{name}")
    return "subjectAltName=" + ",".join(entries)


def ensure_self_signed(
    directory: Path, names: tuple[str, ...] = DEFAULT_NAMES
) -> tuple[Path, Path]:
    """``(cert, key)`` in ``directory``, created on first use (10 years, ECDSA P-256)."""
    cert, key = directory / "apiserver.crt", directory / "apiserver.key"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsSetupError(
            "cannot make the API server's certificate: the openssl command is missing; install "
            "it or set DOCKYARD_API_TLS_CERT_FILE and DOCKYARD_API_TLS_KEY_FILE"
        )
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "3650",
        "-subj", "/CN=dockyard-apiserver", "-addext", _san(names),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise TlsSetupError(f"openssl could not make a certificate: {result.stderr.strip()}")
    key.chmod(0o600)
    return cert, key
