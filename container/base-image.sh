#!/bin/sh
# Make the Dockerfile's base image, debian:bookworm-slim, available to podman without a registry: build it
# with `debootstrap --variant=minbase` from Debian's package mirror, and import it under that name.
# The root filesystem is cached as a tarball (BASE_CACHE_DIR), so only the first run pays for debootstrap.
#
#   container/base-image.sh            import it if podman does not have it yet
#   FORCE=1 container/base-image.sh    rebuild the tarball and re-import
#
# The host's CA bundle goes into the base's /usr/local/share/ca-certificates, so that pip and apt inside the
# build trust the same authorities as this machine (e.g. a proxy that re-signs HTTPS).
set -eu
BASE_IMAGE="${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}"
BASE_CACHE_DIR="${BASE_CACHE_DIR:-/var/cache/courier-image}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
TARBALL="$BASE_CACHE_DIR/debian-bookworm-minbase.tar.gz"

if [ -z "${FORCE:-}" ] && podman image exists "$BASE_IMAGE"; then
  echo "base image $BASE_IMAGE: present"
  exit 0
fi

if [ -n "${FORCE:-}" ] || [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  mkdir -p "$BASE_CACHE_DIR"
  work="$(mktemp -d "$BASE_CACHE_DIR/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "base image: debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (once; cached in $TARBALL)"
  debootstrap --variant=minbase bookworm "$work" "$DEBIAN_MIRROR" >"$work.log" 2>&1 || {
    tail -n 30 "$work.log" >&2; rm -f "$work.log"; exit 1; }
  rm -f "$work.log"
  # Like Debian's official slim image: the release, its updates and security suites; no docs or man pages.
  security="$(echo "$DEBIAN_MIRROR" | sed 's|/debian$|/debian-security|')"
  cat >"$work/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb $security bookworm-security main
SOURCES
  cat >"$work/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
  echo 'APT::Install-Recommends "false";' >"$work/etc/apt/apt.conf.d/99no-recommends"
  if [ -s "$HOST_CA_BUNDLE" ]; then
    mkdir -p "$work/usr/local/share/ca-certificates"
    cp "$HOST_CA_BUNDLE" "$work/usr/local/share/ca-certificates/host-ca-bundle.crt"
  fi
  rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/* "$work"/usr/share/doc/* \
    "$work"/usr/share/man/* "$work"/usr/share/locale/* "$work"/var/log/*
  tar -C "$work" --numeric-owner -czf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi

echo "base image: importing $TARBALL as $BASE_IMAGE"
podman import --quiet "$TARBALL" "$BASE_IMAGE" >/dev/null
