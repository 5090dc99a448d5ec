# syntax=docker/dockerfile:1.7
# One image for every turnpoint service: `turnpoint <service> run` picks the service at start.
#   docker build -t turnpoint:latest .
# Stage "build" resolves the uv workspace from uv.lock (no dev tools), stage "runtime" carries only the
# virtual environment and runs as an unprivileged user. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/turnpoint
WORKDIR /src
# Dependencies first, from the lock file and the members' metadata only, so code edits reuse this layer.
COPY pyproject.toml uv.lock README.md ./
COPY libs/core/pyproject.toml libs/core/pyproject.toml
COPY libs/web/pyproject.toml libs/web/pyproject.toml
COPY services/alerts/pyproject.toml services/alerts/pyproject.toml
COPY services/api/pyproject.toml services/api/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/loader/pyproject.toml services/loader/pyproject.toml
COPY services/model/pyproject.toml services/model/pyproject.toml
COPY services/transform/pyproject.toml services/transform/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-install-workspace
# Then the workspace itself, installed as wheels (not editable) so the runtime stage needs no sources.
COPY libs libs
COPY services services
COPY src src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-editable \
    && /opt/turnpoint/bin/turnpoint --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
# libodbc2: pyodbc (the loader's Tibero/Oracle path) links against unixODBC at run time.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libodbc2 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 turnpoint \
    && useradd --system --uid 10001 --gid turnpoint --groups dialout \
       --home-dir /var/lib/turnpoint --create-home --shell /usr/sbin/nologin turnpoint
COPY --from=build /opt/turnpoint /opt/turnpoint
ENV PATH=/opt/turnpoint/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TURNPOINT_HOST=0.0.0.0 \
    TURNPOINT_ENVIRONMENT=production
WORKDIR /var/lib/turnpoint
USER 10001:10001
# api, ingest, model, transform, loader (turnpoint.core.topics.PORTS): /healthz and /metrics on each.
EXPOSE 8000 8001 8002 8003 8004 8005
ENTRYPOINT ["turnpoint"]
CMD ["--help"]
