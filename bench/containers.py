"""Containers: build time, image sizes, and start-to-ready time of the image.

Run from the repository root, as root, with podman installed (.ci/run's packages):

    .venv/bin/python bench/containers.py [--starts 5] [--no-cache]
    .venv/bin/python bench/containers.py --smoke    # seconds: does it still run?

It builds the Dockerfile's `cpu` and `gpu` targets on the Debian bookworm base the tests
use (tests/deploy/podman.py: made with debootstrap, python3 3.11; an operator's default
BASE is python:3.12-slim, which no registry here serves), with podman's layer cache
unless --no-cache, and reports each build's seconds and each image's size. Then it starts
containers --starts times each and reports the seconds from `podman run` to:

- serve: /healthz answers 200 (the process listens) and /readyz answers 200 (database
  migrated, storage and the worker process up): the embedded default, one worker, CPU;
- worker: its "imagetune worker:" banner (workers started) on a data directory of its own;
- serve on the gpu image with IMAGETUNE_ENGINE_DEVICE=auto, which probes Vulkan devices
  (lavapipe here) before choosing the CPU.

--smoke builds nothing: with the test image present (tests/deploy builds it) it measures
one start of `serve`; without podman or the image it says so and exits 0.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.deploy.podman import GPU_IMAGE, IMAGE, Podman, missing
from tests.support import free_port

CPU_ENV = {"IMAGETUNE_ENGINE_DEVICE": "cpu", "IMAGETUNE_WORKERS": "1"}


def start_serve(podman: Podman, image: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from `podman run` to /healthz 200 and to /readyz 200."""
    port = free_port()
    started = time.monotonic()
    container = podman.start(image, env={"IMAGETUNE_PORT": str(port), **env}, name="bench")
    try:
        container.wait_http(f"http://127.0.0.1:{port}/healthz")
        alive = time.monotonic() - started
        container.wait_http(f"http://127.0.0.1:{port}/readyz")
        return alive, time.monotonic() - started
    finally:
        container.remove()


def start_worker(podman: Podman, image: str) -> float:
    """Seconds from `podman run` to the worker host's banner."""
    started = time.monotonic()
    env = {**CPU_ENV, "IMAGETUNE_WORKER_METRICS_PORT": str(free_port())}
    container = podman.start(image, "worker", env=env, name="bench")
    try:
        container.wait_log("imagetune worker:")
        return time.monotonic() - started
    finally:
        container.remove()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s (max {max(values):.1f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true", help="build every layer again")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    print("command: python " + shlex.join(["bench/containers.py", *sys.argv[1:]]))
    reason = missing()
    podman = Podman()
    if reason is None and args.smoke and not podman.image_exists(IMAGE):
        reason = f"no {IMAGE} image (the container tests build it)"
    if reason:
        print(f"skipped: {reason}")
        return 0
    if args.smoke:
        alive, ready = start_serve(podman, IMAGE, CPU_ENV)
        print("| container | listening (/healthz 200) | ready (/readyz 200) |")
        print("|---|---|---|")
        print(f"| serve, cpu image | {alive:.1f} s | {ready:.1f} s |")
        return 0

    base_seconds = podman.make_base()
    if base_seconds is not None:
        print(f"base image (debootstrap + import): {base_seconds:.0f} s")
    print("| target | build | size |")
    print("|---|---|---|")
    for target, tag in (("cpu", IMAGE), ("gpu", GPU_IMAGE)):
        seconds = podman.build(target, tag, no_cache=args.no_cache)
        print(f"| {target} | {seconds:.0f} s | {podman.image_size(tag) / 1e6:.0f} MB |")

    serve = [start_serve(podman, IMAGE, CPU_ENV) for _ in range(args.starts)]
    worker = [start_worker(podman, IMAGE) for _ in range(args.starts)]
    gpu = [start_serve(podman, GPU_IMAGE, {"IMAGETUNE_WORKERS": "1"}) for _ in range(args.starts)]
    print()
    print(f"starts: {args.starts} each; median (max) seconds from `podman run`")
    print("| container | listening (/healthz 200) | ready (/readyz 200) |")
    print("|---|---|---|")
    for label, runs in (("serve, cpu image", serve), ("serve, gpu image, auto", gpu)):
        alive, ready = [a for a, _ in runs], [r for _, r in runs]
        print(f"| {label} | {spread(alive)} | {spread(ready)} |")
    print(f"| worker, cpu image | | {spread(worker)} (its banner) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
