# syntax=docker/dockerfile:1
#
# The climatelake HTTP gateway (flask_gateway) served by gunicorn.
#
#   docker build -t climatelake-gateway .
#   docker run --rm -p 8000:8000 --env-file .env climatelake-gateway
#
# Configuration is environment only (climatelake/settings.py and flask_gateway/__init__.py):
# CLIMATELAKE_STORAGE_CONNECTION_STRING, DATABRICKS_HOST, DATABRICKS_TOKEN,
# CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT, CLIMATELAKE_EVENTGRID_TOPIC_KEY (API keys live in Table Storage),
# gateway options as CLIMATELAKE_GATEWAY_<NAME>;
# GATEWAY_WORKERS and GATEWAY_THREADS size gunicorn; PORT moves the listening port (default 8000, for hosts
# that share the network namespace, e.g. `podman run --network=host`). Nothing secret is baked into the image.
#
# Package index: the wheel stage uses pip's default index unless a pip.conf is handed in as the build secret
# `pip.conf` (`--secret id=pip.conf,src=...`), as scripts/container_smoke.py does with the host's own index
# settings. A secret, not a build argument, so an index URL with credentials stays out of the image history;
# without the secret the mount is simply absent.
#
# Two stages: the first builds wheels (it may need a build backend, or a compiler should a dependency ever
# ship only an sdist); the second installs those wheels and nothing else, so no build tools, pip cache or
# source tree end up in the image that runs.

# ---------------------------------------------------------------------------------------------------------
# Stage 1: wheels of the project and of every dependency it pins.
FROM python:3.11-slim AS build

# No pip cache in a layer (it would only be thrown away) and no version-check chatter in build logs.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so editing the code does not rebuild them: the layer below
# is reused until pyproject.toml (or README.md, which its `readme` field names) changes. At this point the
# project wheel has no packages in it; it is thrown away and rebuilt from the real code further down.
# Only the base dependencies: the gateway needs neither the `local` (Sail, pyspark) nor the `dev` extras.
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    pip wheel --wheel-dir /wheels . \
    && rm -f /wheels/climatelake-*.whl

# The code the gateway imports. functions/, emulators/ and function_app.py are left out on purpose: the
# gateway never imports them (setuptools' find simply packages what is there), and the stand-ins have no
# business in a production image.
COPY climatelake/ climatelake/
COPY flask_gateway/ flask_gateway/
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    pip wheel --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------------------
# Stage 2: the runtime, a clean slim image with the wheels installed.
FROM python:3.11-slim AS runtime

# PYTHONDONTWRITEBYTECODE: pip already compiled the installed code; at run time the non-root user could not
# write .pyc files into site-packages anyway. PYTHONUNBUFFERED: logs reach `docker logs` at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    GATEWAY_WORKERS=2 \
    GATEWAY_THREADS=4

# Install from the build stage's wheels only (--no-index: nothing is fetched, and a missing wheel fails the
# build instead of silently pulling something else). The wheels are bind-mounted rather than COPYed, so
# they take no space in any layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/*.whl

# A fixed numeric, unprivileged user: numeric so that Kubernetes' runAsNonRoot can verify it, fixed so
# that volume ownership is predictable. It owns nothing in the image; the gateway writes no files.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gateway

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness only (/healthz checks no dependency, see flask_gateway/health.py). Slim images have no curl,
# so Python's urllib asks; any error or non-2xx answer raises, and the non-zero exit marks it unhealthy.
# It asks the port gunicorn listens on: $PORT when set (as in CMD below), else 8000.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('PORT') or '8000') + '/healthz', timeout=3)"]

# `sh -c` so that ${GATEWAY_WORKERS}/${GATEWAY_THREADS} are expanded when the container starts; `exec` so
# that gunicorn replaces the shell as PID 1 and receives SIGTERM from `docker stop` (graceful shutdown).
# --worker-tmp-dir /dev/shm: gunicorn's worker heartbeat files on tmpfs, not on the container's overlay
# file system (gunicorn's advice for containers). --no-control-socket: gunicorn >= 25.1 otherwise opens a
# management socket under $HOME, which this user does not have (and nobody runs gunicornc in here).
# Access log to stdout, as the local launcher does. ${PORT:-8000}: see PORT in the header.
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT:-8000} --workers ${GATEWAY_WORKERS:-2} --threads ${GATEWAY_THREADS:-4} --worker-tmp-dir /dev/shm --no-control-socket --access-logfile - 'flask_gateway:create_app()'"]
