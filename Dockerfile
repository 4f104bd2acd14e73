# syntax=docker/dockerfile:1
# One build, two images: `--target runtime` hosts plugins (plugin-runtime), `--target operator`
# (the default, last stage) runs the operator and its management API (plugin-operator).
#
#   docker build --target operator -t ghcr.io/hyperspot/plugin-operator:0.1.0 .
#   docker build --target runtime  -t ghcr.io/hyperspot/plugin-runtime:0.1.0 .
#
# Both run as UID/GID 10001 with a read-only root filesystem: bytecode is compiled at build time,
# and HOME and temporary files live in /tmp (an emptyDir in the Kubernetes manifests).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Each image gets its own virtualenv with only what it runs: the runtime's wheel is built from the
# runtime and the adapters alone and installed without extras; the operator's adds the operator
# package and the `operator` extra (kopf, kubernetes, alembic). The development tools — the embedded
# cluster (plugin_devcluster) and the `dev` extra — are never copied or installed. setup.py gives each
# wheel the entry points of the packages copied into its stage: the runtime image has `plugin-runtime`
# only, the operator image `plugin-operator` and `plugin-runtime`.
# tests/chart/test_images.py and test_install_sets.py check these install sets against pyproject.toml.
FROM ${PYTHON_IMAGE} AS runtime-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY plugin_runtime ./plugin_runtime
COPY adapters ./adapters
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS operator-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY plugin_runtime ./plugin_runtime
COPY adapters ./adapters
COPY plugin_operator ./plugin_operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install "$(ls /wheels/*.whl)[operator]" \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 plugins \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin plugins
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001

FROM base AS runtime
COPY --from=runtime-build /opt/venv /opt/venv
EXPOSE 8080
ENTRYPOINT ["plugin-runtime"]
CMD ["--config", "/etc/plugin-runtime/runtime.yaml", "--host", "0.0.0.0", "--port", "8080"]

FROM base AS operator
COPY --from=operator-build /opt/venv /opt/venv
EXPOSE 8000
ENTRYPOINT ["plugin-operator"]
CMD ["run"]
