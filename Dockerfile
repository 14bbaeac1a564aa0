# syntax=docker/dockerfile:1
# Punctual operator image. Build:  docker build -t punctual:0.1.0 .
# The base tag is pinned; for reproducible release builds pin the digest too (python:...@sha256:...).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- builder: wheels for the project and all its dependencies ------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- final: the wheels installed into a clean image, no build tools, non-root --------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="punctual" \
      org.opencontainers.image.description="A Kubernetes operator for scheduled jobs that never silently skips a run." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are bind-mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl
# 65532 is the conventional "nonroot" id; the chart runs the pod with the same numeric ids.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["punctual", "run"]
