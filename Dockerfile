# The Courier Tracking System image: one image, the command picks the role (api, worker, init-db).
#   docker build -t courier-tracking .        (make image builds it with podman)
#   docker run --env-file .env courier-tracking api
# Python is Debian's; the Python packages are requirements.txt's, at its pinned versions.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY requirements.txt /tmp/requirements.txt
# requirements.txt is the runtime set, every package pinned (the test tools are in requirements-dev.txt).
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall -y pip setuptools \
    && rm -rf /opt/venv/share

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/dpkg.log /var/log/apt \
    && groupadd --system --gid 10001 courier \
    && useradd --system --uid 10001 --gid courier --home-dir /app --no-create-home --shell /usr/sbin/nologin courier
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root app1.py gunicorn.conf.py schema.sql seed.sql ./
COPY --chown=root:root courier ./courier
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root static ./static
COPY --chown=root:root container/entrypoint.sh container/healthcheck.py ./container/
# Listen on every interface inside the container (the worker's metrics too).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=5000 \
    WORKER_METRICS_HOST=0.0.0.0 \
    WORKER_METRICS_PORT=9101
USER 10001:10001
EXPOSE 5000 9101
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 CMD ["python3", "/app/container/healthcheck.py"]
# tini is PID 1: it forwards SIGTERM to gunicorn (or the worker) and reaps orphans.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/container/entrypoint.sh"]
CMD ["api"]
