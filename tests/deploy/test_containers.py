"""The container image, compose files and Kubernetes manifests, built and run with podman.

The image is built once per run from the repository's Dockerfile, on a Debian base made
with debootstrap (kept by podman between runs: tests/deploy/podman.py). Without podman
these tests skip with the reason; CI (IMAGETUNE_TEST_REQUIRE_SERVICES=1) fails instead.
Jobs are tiny (small images at 1K) and use the real engine: the test processors are not
in the image. Run alone with `.venv/bin/pytest -m container -n 0 tests/deploy`.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select

from imagetune.db.models import Job
from tests.databases import fresh_postgres_database, service_missing
from tests.deploy.podman import GPU_IMAGE, IMAGE, ROOT, Build, Container, Podman, missing
from tests.objectstores import S3_ENV
from tests.support import ApiClient, free_port, make_image, open_image

# The first test to ask for the image waits for the base image and the build: minutes
# on a fresh machine, over the suite's 300 s per test.
pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1800)]

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
UID = "10001"
KUBERNETES_VERSION = "1.31"
"""The Kubernetes release the manifests are validated against (a supported one)."""
JOB_TIMEOUT = 120.0
FAST = {"IMAGETUNE_ENGINE_THREADS": "1", "IMAGETUNE_ENGINE_DEVICE": "cpu"}
"""One inference thread (tests share two cores) and no Vulkan probe at start."""


@pytest.fixture(scope="module")
def podman() -> Podman:
    reason = missing()
    if reason:
        service_missing(reason)
    podman = Podman()
    seconds = podman.make_base()
    if seconds is not None:
        print(f"base image made in {seconds:.0f} s")
    return podman


@pytest.fixture(scope="module")
def builds(podman: Podman) -> Iterator[dict[str, Build]]:
    """The CPU image, built now; the GPU image's build started beside the tests."""
    seconds = podman.build("cpu", IMAGE)
    print(f"{IMAGE}: built in {seconds:.0f} s, {podman.image_size(IMAGE) / 1e6:.0f} MB")
    gpu = podman.build_in_background("gpu", GPU_IMAGE)
    yield {"gpu": gpu}
    gpu.cancel()


@pytest.fixture(scope="module")
def image(builds: dict[str, Build]) -> str:
    return IMAGE


@pytest.fixture(scope="module")
def gpu_image(podman: Podman, builds: dict[str, Build]) -> str:
    seconds = builds["gpu"].wait()
    print(f"{GPU_IMAGE}: built in {seconds:.0f} s (beside the tests), "
          f"{podman.image_size(GPU_IMAGE) / 1e6:.0f} MB")  # fmt: skip
    return GPU_IMAGE


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """Containers a test started; removed at its end."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


class Served:
    """`imagetune serve` (the image's default command) in a container."""

    def __init__(self, podman: Podman, image: str, options: Sequence[str] = (), **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.container = podman.start(
            image,
            env={**FAST, "IMAGETUNE_PORT": str(self.port), **env},
            options=options,
            name="imagetune-serve",
        )
        self.ready_seconds = self.container.wait_http(f"{self.base_url}/readyz")

    def api_for(self, user: str) -> ApiClient:
        return api_for(self.container, self.base_url, user)


def api_for(container: Container, base_url: str, user: str) -> ApiClient:
    """A user and a key made with `podman exec ... imagetune`, as the README says."""
    container.exec("imagetune", "users", "create", user)
    key = container.exec("imagetune", "keys", "create", user).strip().splitlines()[-1]
    http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return ApiClient(http)


@pytest.fixture(scope="module")
def served(podman: Podman, image: str) -> Iterator[Served]:
    """One `serve` container for the tests that only talk to it."""
    server = Served(podman, image, IMAGETUNE_WORKERS="1")
    print(f"serve: ready {server.ready_seconds:.1f} s after `podman run`")
    yield server
    server.container.remove()


def assert_result(api: ApiClient, job: dict[str, Any], long_side: int = 1024) -> None:
    assert job["status"] == "Succeed", job
    response = api.download(job["image_urls"][0])
    assert response.status_code == 200
    assert max(open_image(response.content).size) == long_side


def test_serve_runs_as_uid_10001_with_a_passing_healthcheck(served: Served, podman: Podman) -> None:
    container = served.container

    assert container.exec("id", "-u").strip() == UID
    status = container.exec("cat", "/proc/1/status")
    assert f"Uid:\t{UID}\t" in status
    assert "imagetune" in container.exec("cat", "/proc/1/cmdline")  # PID 1: signals reach it
    healthcheck = podman("healthcheck", "run", container.name, check=False)
    assert healthcheck.returncode == 0, healthcheck.stdout + healthcheck.stderr
    assert json.loads(container.logs().splitlines()[0])["level"]  # JSON log lines


def test_serve_answers_the_readme_walkthrough(served: Served) -> None:
    api = served.api_for("alice")

    submitted = api.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("photo.jpg", make_image((64, 48), fmt="JPEG", quality=95))},
        data={"scale": "1K"},
    )
    assert submitted.status_code == 200, submitted.text
    job = api.wait(submitted.json()["job_id"], timeout=JOB_TIMEOUT)

    assert job["model"] == "photo"  # a real network, from the model files in the image
    assert_result(api, job)
    assert "photo" in [m["name"] for m in api.http.get("/public/v1/models").json()]
    api.close()


def test_sigterm_during_a_job_hands_it_back_and_exits_0(
    podman: Podman, image: str, tmp_path: Path, containers: list[Container]
) -> None:
    grace = 2
    data = tmp_path / "data"  # the container's /data, to read its database afterwards
    data.mkdir()
    os.chown(data, int(UID), int(UID))
    server = Served(
        podman, image, options=["--volume", f"{data}:/data"],
        IMAGETUNE_SHUTDOWN_GRACE=str(grace), IMAGETUNE_WORKERS="1",
    )  # fmt: skip
    containers.append(server.container)
    api = server.api_for("bob")
    # Real-ESRGAN x4plus on the CPU: seconds of work, so the job is mid-way at the stop.
    response = api.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("photo.png", make_image((128, 96)))},
        data={"scale": "1K", "model": "enhance"},
    )
    assert response.status_code == 200, response.text
    job_id = uuid.UUID(response.json()["job_id"])
    api.wait_started(str(job_id), timeout=JOB_TIMEOUT)
    api.close()  # a kept-alive connection would hold the server's shutdown to its timeout

    # As compose's stop_grace_period: SIGTERM, then SIGKILL (exit code 137) after 30 s. The
    # host lets the worker run for the grace, kills it, then hands the job back.
    took = server.container.stop(timeout=30)
    print(f"SIGTERM mid-job: stopped in {took:.1f} s")

    log = server.container.logs()
    assert server.container.state("ExitCode") == "0", log
    engine = create_engine(f"sqlite:///{data / 'imagetune.db'}")
    with engine.connect() as connection:
        state, attempts = connection.execute(
            select(Job.state, Job.attempts).where(Job.id == job_id)
        ).one()
    engine.dispose()
    # Handed back without using up an attempt (the next start runs it), or finished.
    assert (state, attempts) == ("queued", 0) or state == "succeeded", (state, attempts, log)
    if state == "queued":
        assert "handed 1 unfinished job(s) back to the queue" in log


def test_fleet_api_and_two_workers_on_postgresql_and_s3(
    podman: Podman, image: str, s3_bucket: tuple[Any, str], s3_endpoint: str,
    containers: list[Container],
) -> None:  # fmt: skip
    _, bucket = s3_bucket
    with fresh_postgres_database() as database_url:
        env = {
            **FAST,
            **S3_ENV,
            "IMAGETUNE_DATABASE_URL": database_url,
            "IMAGETUNE_STORAGE_URL": f"s3://{bucket}/fleet",
            "IMAGETUNE_S3_ENDPOINT_URL": s3_endpoint,
        }
        api_port = free_port()
        api = podman.start(
            image, "serve", "--no-workers", env={**env, "IMAGETUNE_PORT": str(api_port)},
            name="imagetune-api",
        )  # fmt: skip
        containers.append(api)
        workers = {}
        for name in ("w1", "w2"):
            worker_env = {
                **env,
                "IMAGETUNE_WORKER_NAME": name,
                "IMAGETUNE_WORKER_METRICS_PORT": str(free_port()),
            }
            workers[name] = podman.start(image, "worker", env=worker_env, name=f"it-{name}")
            containers.append(workers[name])
        api.wait_http(f"http://127.0.0.1:{api_port}/readyz")
        for worker in workers.values():
            worker.wait_log("imagetune worker:")
            healthcheck = podman("healthcheck", "run", worker.name, check=False)
            assert healthcheck.returncode == 0, worker.logs()
        # What compose's one-shot `migrate` service runs, against the fleet's database.
        assert "database at revision" in api.exec("imagetune", "db", "upgrade")
        client = api_for(api, f"http://127.0.0.1:{api_port}", "carol")

        hosts: set[str] = set()
        for burst in range(4):  # until both workers have run jobs
            ids = [
                client.http.post(
                    "/public/v1/image-tune/upscale",
                    files={"image": (f"{n}.png", make_image((96, 64), seed=n))},
                    data={"scale": "1K", "model": "classic"},
                ).json()["job_id"]
                for n in range(burst * 6, burst * 6 + 6)  # new bytes: no result reuse
            ]
            for job_id in ids:
                assert_result(client, client.wait(job_id, timeout=JOB_TIMEOUT))
            # A worker logs "job ID done" (finishing clears the job's worker_id column).
            logs = {name: worker.logs() for name, worker in workers.items()}
            hosts |= {
                name for name, log in logs.items() if any(f"job {i} done" in log for i in ids)
            }
            if hosts == {"w1", "w2"}:
                break
        assert hosts == {"w1", "w2"}
        client.close()
        for container in containers:  # before the database is dropped
            container.remove()


def test_gpu_target_lists_lavapipe_and_runs_a_job_on_it(podman: Podman, gpu_image: str) -> None:
    served = Served(podman, gpu_image, IMAGETUNE_ENGINE_DEVICE="gpu", IMAGETUNE_ENGINE_THREADS="1")
    try:
        devices = json.loads(served.container.exec("imagetune", "devices", "--json"))
        names = [device["name"] for device in devices["devices"]]
        assert any("llvmpipe" in name for name in names), devices
        assert served.container.exec("printenv", "NVIDIA_DRIVER_CAPABILITIES").strip() == (
            "compute,utility,graphics"
        )
        readiness = httpx.get(f"{served.base_url}/readyz").json()
        assert "llvmpipe" in json.dumps(readiness["device"]), readiness

        api = served.api_for("dave")
        response = api.http.post(
            "/public/v1/image-tune/upscale",
            files={"image": ("small.png", make_image((32, 24)))},
            data={"scale": "1K", "model": "photo"},
        )
        assert response.status_code == 200, response.text
        assert_result(api, api.wait(response.json()["job_id"], timeout=JOB_TIMEOUT * 2))
        api.close()
    finally:
        served.container.remove()


# Compose ----------------------------------------------------------------------------------


def compose_config(tmp_path: Path, *files: str) -> dict[str, Any]:
    """`podman-compose config` of deploy's FILES with .env.example as the .env; parsed."""
    for name in (*files, ".env.example"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    shutil.copy(DEPLOY / ".env.example", tmp_path / ".env")
    compose = Path(sys.executable).parent / "podman-compose"  # PyPI's: Debian's has no config
    arguments = [arg for name in files for arg in ("-f", name)]
    done = subprocess.run(
        [str(compose), *arguments, "--profile", "nvidia", "--profile", "dri", "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_files_are_valid_and_their_commands_exist_in_the_image(
    tmp_path: Path, podman: Podman, image: str
) -> None:
    config = compose_config(tmp_path, "compose.yaml", "compose.gpu.yaml")
    services = config["services"]

    assert {"api", "worker", "migrate", "bucket", "postgres", "s3"} <= services.keys()
    assert {"worker-nvidia", "worker-dri"} <= services.keys()
    assert services["api"]["command"] == ["serve", "--no-workers"]
    assert services["worker"]["command"] == ["worker"]
    assert "ports" not in services["worker"]  # so that --scale worker=3 works
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    nvidia = services["worker-nvidia"]
    assert nvidia["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "/dev/dri:/dev/dri" in services["worker-dri"]["devices"]
    for name in ("api", "worker", "worker-nvidia", "worker-dri"):
        grace = float(services[name]["environment"]["IMAGETUNE_SHUTDOWN_GRACE"])
        assert seconds(services[name]["stop_grace_period"]) > grace + 5, name

    # Every command an imagetune service runs exists in the image: `--help` after it fails
    # on an unknown command or option. The bucket service's script must compile and import.
    checks: set[str] = set()  # one run of each distinct command
    for name, service in services.items():
        if not str(service.get("image", "")).startswith("imagetune"):
            continue
        entrypoint = service.get("entrypoint", ["imagetune"])
        if entrypoint == ["imagetune"]:
            checks.add(shlex.join(["imagetune", *service["command"], "--help"]))
        else:
            assert entrypoint == ["python", "-c"], name
            script = service["command"][0]
            checks.add(shlex.join(["python", "-c", compile_and_import(script)]))
    assert len(checks) == 4  # serve --no-workers, worker, db upgrade, the bucket script
    podman(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-e",
        "-c",
        " >/dev/null && ".join(sorted(checks)),
    )


def compile_and_import(script: str) -> str:
    """A Python line that compiles ``script`` and runs only its imports."""
    imports = [line for line in script.splitlines() if line.startswith(("import ", "from "))]
    return f"compile({script!r}, 'bucket', 'exec'); " + "; ".join(imports)


def seconds(duration: str) -> float:
    """A compose duration (`60s`, `1m30s`) in seconds."""
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total + (float(number) if number else 0)


# Kubernetes -------------------------------------------------------------------------------


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIRECTORY`, parsed."""
    if shutil.which("kubectl") is None:
        service_missing("kubectl (the client) is not installed: it renders the kustomize base")
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_kubernetes_manifests_render_and_validate() -> None:
    import kubernetes_validate

    rendered = {name: kustomize(KUBERNETES / name) for name in ("", "keda", "gpu")}
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    for docs in [*rendered.values(), [secret]]:
        for doc in docs:
            if doc["apiVersion"].startswith("keda.sh/"):
                continue  # a custom resource: checked below
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    base = rendered[""]
    kinds = {doc["kind"] for doc in base}
    assert kinds == {"ConfigMap", "Job", "Deployment", "Service", "PodDisruptionBudget"}
    grace = float(by_kind(base, "ConfigMap")["imagetune"]["data"]["IMAGETUNE_SHUTDOWN_GRACE"])
    deployments = by_kind(rendered["gpu"], "Deployment")
    assert set(deployments) == {"imagetune-api", "imagetune-worker", "imagetune-worker-gpu"}
    api = deployments["imagetune-api"]["spec"]["template"]["spec"]
    assert api["containers"][0]["args"] == ["serve", "--no-workers"]
    assert api["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace + 5
        assert pod["securityContext"]["runAsUser"] == int(UID)
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
    gpu_worker = deployments["imagetune-worker-gpu"]["spec"]["template"]["spec"]["containers"][0]
    assert gpu_worker["image"].endswith("-gpu")
    assert gpu_worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "IMAGETUNE_ENGINE_DEVICE", "value": "gpu"} in gpu_worker["env"]
    worker = deployments["imagetune-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["worker"]
    assert {"name": "metrics", "containerPort": 9464} in worker["ports"]
    assert by_kind(base, "Job")["imagetune-migrate"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["db", "upgrade"]

    (scaled,) = [doc for doc in rendered["keda"] if doc["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "imagetune-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert 'imagetune_jobs{state="queued"}' in trigger["metadata"]["query"]


def test_kubernetes_api_and_worker_run_with_podman_kube_play(
    tmp_path: Path, podman: Podman, image: str, s3_bucket: tuple[Any, str], s3_endpoint: str,
) -> None:  # fmt: skip
    """The rendered Deployments and their ConfigMap as pods, with what podman needs changed:
    the image (the local build), replicas (podman runs one pod per Deployment), on the host
    network ports and addresses pointed at this machine's test services, and per-pod names
    for the emptyDir volumes (podman makes named volumes of them). Left out: the ports
    (podman refuses port mappings on the host network) and the probes (podman would run
    them as curl commands, which the image has not; the kubelet runs them itself). The
    Secret goes in as a podman secret holding what podman 4.3 reads: a JSON object of
    base64 values (a Secret document in the file is stored in a form it cannot read back).
    """
    _, bucket = s3_bucket
    docs = kustomize(KUBERNETES)
    api_port, metrics_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    with fresh_postgres_database() as database_url:
        config = by_kind(docs, "ConfigMap")["imagetune"]
        config["data"].update(
            IMAGETUNE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
            IMAGETUNE_STORAGE_URL=f"s3://{bucket}/kube",
            IMAGETUNE_S3_ENDPOINT_URL=s3_endpoint,
            IMAGETUNE_PORT=str(api_port),
            IMAGETUNE_WORKER_METRICS_PORT=str(metrics_port),
            **FAST,
        )
        values = {
            "IMAGETUNE_DATABASE_URL": database_url,
            "AWS_ACCESS_KEY_ID": S3_ENV["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        }
        assert values.keys() <= secret["stringData"].keys()
        secret_file = tmp_path / "secret.json"
        secret_file.write_text(
            json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in values.items()})
        )
        deployments = by_kind(docs, "Deployment")
        for name, deployment in deployments.items():
            deployment["spec"]["replicas"] = 1
            pod = deployment["spec"]["template"]["spec"]
            for volume in pod["volumes"]:
                volume["name"] = f"{name}-{suffix}-{volume['name']}"
            for container in pod["containers"]:
                container["image"] = image
                container["env"] = [e for e in container.get("env", []) if e["name"] not in FAST]
                for field in ("ports", "startupProbe", "livenessProbe", "readinessProbe"):
                    container.pop(field, None)
                for mount in container["volumeMounts"]:
                    mount["name"] = f"{name}-{suffix}-{mount['name']}"
        play = tmp_path / "imagetune.yaml"
        play.write_text(yaml.safe_dump_all([config, *deployments.values()]))

        podman("secret", "rm", secret["metadata"]["name"], check=False)
        podman("secret", "create", secret["metadata"]["name"], str(secret_file))
        try:
            podman("kube", "play", "--network", "host", str(play), timeout=180)
            api = pod_container(podman, "imagetune-api")
            worker = pod_container(podman, "imagetune-worker")
            api.wait_http(f"http://127.0.0.1:{api_port}/readyz")
            worker.wait_log("imagetune worker:")
            assert api.exec("id", "-u").strip() == UID
            read_only = api.exec("sh", "-c", "touch /opt/imagetune/x 2>&1 || true")
            assert "Read-only file system" in read_only
            client = api_for(api, f"http://127.0.0.1:{api_port}", "erin")
            response = client.http.post(
                "/public/v1/image-tune/upscale",
                files={"image": ("k.png", make_image((96, 64)))},
                data={"scale": "1K", "model": "classic"},
            )
            assert response.status_code == 200, response.text
            job_id = response.json()["job_id"]
            assert_result(client, client.wait(job_id, timeout=JOB_TIMEOUT))
            assert f"job {job_id} done" in worker.logs()
            client.close()
        finally:
            podman("kube", "down", str(play), timeout=120, check=False)
            podman("secret", "rm", secret["metadata"]["name"], check=False)


def pod_container(podman: Podman, deployment: str) -> Container:
    """The container of the pod podman made for ``deployment`` (pod `NAME-pod-0`)."""
    names = podman("ps", "--all", "--format", "{{.Names}}").stdout.split()
    (name,) = [n for n in names if n.startswith(f"{deployment}-pod-")]
    return Container(podman, name)
