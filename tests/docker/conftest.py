"""Docker tests need a real engine and the offline `busybox:latest` image.

There is no registry here, so the image is built the way the README describes: `docker import`
of a root filesystem holding the static busybox (Debian's busybox-static) and its applets. A
missing engine or busybox is an error, never a skip.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import docker
import pytest

IMAGE = "busybox:latest"
APPLETS = (
    "sh", "ls", "cat", "echo", "sleep", "true", "false", "env", "wget", "nc", "httpd", "kill",
    "ps", "id", "mkdir", "touch", "grep", "head", "tail", "yes", "dd", "seq", "date", "trap",
    "printf", "test", "[", "rm", "hostname", "ip", "ifconfig", "tr", "wc", "cut", "sed", "awk",
)  # fmt: skip


def busybox_rootfs_tar(busybox: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "proc", "sys", "dev", "var", "var/www"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buffer.getvalue()


@pytest.fixture(scope="session", autouse=True)
def busybox_image() -> str:
    client = docker.from_env(version="auto")
    try:
        client.images.get(IMAGE)
        return IMAGE
    except docker.errors.ImageNotFound:
        pass
    found = shutil.which("busybox") or "/bin/busybox"
    if not Path(found).exists():
        raise RuntimeError(
            "no static busybox to build busybox:latest: apt-get install busybox-static"
        )
    client.api.import_image_from_data(
        busybox_rootfs_tar(Path(found).resolve()),
        repository="busybox",
        tag="latest",
        changes=['CMD ["/bin/sh"]', "ENV PATH=/bin"],
    )
    client.images.get(IMAGE)
    return IMAGE
