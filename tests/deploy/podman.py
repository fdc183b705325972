"""podman for the container tests and bench/containers.py.

Everything here follows /work/shared/CONTAINERS.md, measured on the project's machines:
no image registry (so the base image is made with debootstrap from Debian's packages and
kept between runs), no Docker daemon (podman, as root), settings given through
CONTAINERS_CONF (tests/deploy/containers.conf) rather than the host's /etc/containers,
and the host's network and certificate bundle for the package registries during builds.
Containers run on the host network: they reach the test PostgreSQL and moto on
127.0.0.1, and each gets its own free port.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BASE_IMAGE = "localhost/imagetune-test-base:bookworm"
"""Debian bookworm (minbase) with python3 and python3-venv: the Dockerfile's BASE here."""
IMAGE = "localhost/imagetune-test:cpu"
GPU_IMAGE = "localhost/imagetune-test:gpu"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
READY_TIMEOUT = 120.0


def missing() -> str | None:
    """Why the container tests cannot run here, or None."""
    if shutil.which("podman") is None:
        return (
            "podman is not installed (apt-get install podman runc catatonit debootstrap "
            "uidmap slirp4netns fuse-overlayfs)"
        )
    if os.geteuid() != 0:
        return "the container tests run podman as root (tests/deploy/containers.conf)"
    return None


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (debootstrap must reach the same one)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        found = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    return DEFAULT_MIRROR


class Podman:
    """The podman command with this repository's settings."""

    def __init__(self) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")}

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, timeout=timeout, text=True
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def image_exists(self, name: str) -> bool:
        return self("image", "exists", name, check=False).returncode == 0

    def image_size(self, name: str) -> int:
        """Bytes, as `podman images` counts them (every layer, uncompressed)."""
        return int(self("image", "inspect", "--format", "{{.Size}}", name).stdout)

    def make_base(self) -> float | None:
        """The Debian base image, made once and kept by podman; seconds taken, or None
        when it was there already."""
        if self.image_exists(BASE_IMAGE):
            return None
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="imagetune-rootfs-", dir="/var/tmp") as rootfs:
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv",
                    "bookworm",
                    rootfs,
                    debian_mirror(),
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(
                ["podman", "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                env=self.env,
                check=True,
                capture_output=True,
                timeout=300,
            )
            assert tar.wait() == 0
        return time.monotonic() - started

    def build(self, target: str, tag: str, *, no_cache: bool = False) -> float:
        """Build the repository's Dockerfile at ``target`` on the Debian base; seconds."""
        started = time.monotonic()
        replaced = self.image_id(tag)
        self(*self._build_arguments(target, tag, no_cache), timeout=1500)
        self.drop_replaced(replaced, tag)
        return time.monotonic() - started

    def image_id(self, name: str) -> str | None:
        if not self.image_exists(name):
            return None
        return self("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()

    def drop_replaced(self, replaced: str | None, tag: str) -> None:
        """Remove the image ``tag`` named before a build that changed it: each one holds
        its own copy of the virtual environment (half a gigabyte), and its layers below
        are the build cache, kept by the new image."""
        if replaced and replaced != self.image_id(tag):
            self("rmi", replaced, check=False)

    def build_in_background(self, target: str, tag: str) -> Build:
        """The same build, in a process of its own (the GPU target's system packages
        download and install while the CPU image's tests run)."""
        log = tempfile.TemporaryFile()  # noqa: SIM115 (Build.wait or .cancel closes it)
        replaced = self.image_id(tag)
        process = subprocess.Popen(
            ["podman", *self._build_arguments(target, tag, no_cache=False)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return Build(self, tag, replaced, process, log, time.monotonic())

    @staticmethod
    def _build_arguments(target: str, tag: str, no_cache: bool) -> list[str]:
        """`--format docker`: the OCI image format has no HEALTHCHECK (podman drops it with
        a warning). The certificate bundle and a pip.conf naming it are mounted for the
        build only, so nothing of this machine lands in the image."""
        return [
            "build",
            "--format",
            "docker",
            "--network",
            "host",
            "--volume",
            f"{HOST_CA}:/run/host-ca.crt:ro",
            "--volume",
            f"{HERE / 'pip.conf'}:/etc/pip.conf:ro",
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "--target",
            target,
            "--tag",
            tag,
            *(["--no-cache"] if no_cache else []),
            str(ROOT),
        ]

    def start(
        self,
        image: str,
        *args: str,
        env: dict[str, str] | None = None,
        options: Sequence[str] = (),
        name: str = "imagetune",
    ) -> Container:
        """``podman run --detach`` on the host network; the container."""
        container = Container(self, f"{name}-{uuid.uuid4().hex[:8]}")
        environment = [f"--env={key}={value}" for key, value in (env or {}).items()]
        self("run", "--detach", "--name", container.name, "--network", "host",
             *environment, *options, image, *args)  # fmt: skip
        return container


@dataclass
class Build:
    podman: Podman
    tag: str
    replaced: str | None
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    started: float

    def wait(self, timeout: float = 1500) -> float:
        """Seconds the build took; fails with its output if it did."""
        code = self.process.wait(timeout=timeout)
        seconds = time.monotonic() - self.started
        self.log.seek(0)
        output = self.log.read().decode(errors="replace")
        self.log.close()
        assert code == 0, f"podman build exited {code}:\n{output}"
        self.podman.drop_replaced(self.replaced, self.tag)
        return seconds

    def cancel(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.log.close()


@dataclass
class Container:
    podman: Podman
    name: str

    def exec(self, *command: str, check: bool = True) -> str:
        return self.podman("exec", self.name, *command, check=check).stdout

    def logs(self) -> str:
        done = self.podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def state(self, field: str) -> str:
        template = f"{{{{.State.{field}}}}}"
        return self.podman("inspect", "--format", template, self.name).stdout.strip()

    def running(self) -> bool:
        return self.state("Running") == "true"

    def wait_http(self, url: str, timeout: float = READY_TIMEOUT) -> float:
        """Seconds until ``url`` answers 200 (from now); fails with the logs if the
        container exits first or it never does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"{url} not ready after {timeout:.0f}s:\n{self.logs()}")

    def wait_log(self, text: str, timeout: float = READY_TIMEOUT) -> float:
        """Seconds until ``text`` appears in the container's output."""
        started = time.monotonic()
        while text not in self.logs():
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            assert time.monotonic() - started < timeout, f"no {text!r} in:\n{self.logs()}"
            time.sleep(0.2)
        return time.monotonic() - started

    def stop(self, timeout: int) -> float:
        """``podman stop``: SIGTERM, then SIGKILL after ``timeout`` s; seconds it took."""
        started = time.monotonic()
        self.podman("stop", "--time", str(timeout), self.name, timeout=timeout + 60)
        return time.monotonic() - started

    def remove(self) -> None:
        self.podman("rm", "--force", "--volumes", "--time", "0", self.name, check=False)
