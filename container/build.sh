#!/bin/sh
# `make image`: the base image (container/base-image.sh, cached), then the project's image with podman.
#   IMAGE=courier-tracking:latest container/build.sh
# --format docker keeps the HEALTHCHECK (the OCI format has none); --pull=never: no registry is needed.
set -eu
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-localhost/courier-tracking:latest}"
command -v podman >/dev/null || { echo "podman is missing: apt-get install podman buildah runc" >&2; exit 1; }
CONTAINERS_CONF="${CONTAINERS_CONF:-$(container/containers-conf.sh)}"
export CONTAINERS_CONF
container/base-image.sh
podman build --format docker --pull=never --network host --layers=false -t "$IMAGE" .
# A multi-stage build leaves its first stage behind as an untagged image: remove it.
podman image prune --force >/dev/null
echo "built $IMAGE: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
