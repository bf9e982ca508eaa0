#!/bin/bash
# Write a containers.conf for podman on these machines and print its path (export CONTAINERS_CONF=$(...)):
# runc as the runtime, cgroupfs (no systemd), and default ulimits no higher than this shell's hard limits
# (podman's default nofile of 1048576 is refused where the hard limit is lower).
set -euo pipefail
conf="${TMPDIR:-/tmp}/courier-containers.conf"
cap() { local hard="$1" want="$2"; if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then echo "$want"; else echo "$hard"; fi; }
nofile="$(cap "$(ulimit -Hn)" 65536)"
nproc="$(cap "$(ulimit -Hu)" 8192)"  # more is refused here even below the hard limit
cat >"$conf.tmp" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
mv "$conf.tmp" "$conf"
echo "$conf"
