#!/usr/bin/env bash
# The container engine of this machine, set up once and reused (idempotent).
#
#   bash manifests/engine.sh name     print the engine to use (docker or podman)
#   bash manifests/engine.sh socket   print a DOCKER_HOST whose Docker Engine API answers
#                                     (kfp.local.DockerRunner and the docker SDK need one)
#
# stdout carries only the answer, so callers can $(...) it; progress goes to stderr.
# Why podman needs settings here: shared/design.md, "Containers on this kind of machine".
set -euo pipefail

log() { echo "engine.sh: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

# Non-root users get their own runtime dir, so two users never share a socket.
if is_root; then RUN_DIR=/run/tinymlops; else RUN_DIR=${XDG_RUNTIME_DIR:-/tmp/$(id -u)}/tinymlops; fi

apt_install() {
  # Another apt (CI, make firmware-toolchain) may hold the lock: wait for it instead of failing.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
  log "installing $* (Debian)"
  "${apt[@]}" update >&2
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >&2
}

# Write a file only when its content changes, so reruns touch nothing.
write_if_changed() {
  local path=$1 content=$2
  [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] && return 0
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$content" >"$path"
  log "wrote $path"
}

PODMAN_CONF='# tinymlops (manifests/engine.sh): crun fails here ("cgroups in hybrid mode not
# supported"), systemd cgroups are absent, and raising RLIMIT_NOFILE is not permitted.
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[containers]
default_ulimits = []'

# A container from a rootfs of just /bin/true and its libraries: proves podman runs
# containers without needing any image (no registry answers here).
podman_runs() {
  local root rc=0
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  cp /bin/true "$root/bin/true"
  for lib in $(ldd /bin/true | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
  done
  podman run --rm --rootfs "$root" /bin/true >/dev/null 2>&1 || rc=1
  rm -rf "$root"
  return $rc
}

setup_podman() {
  if ! command -v podman >/dev/null; then
    is_root && command -v apt-get >/dev/null || return 1
    apt_install podman runc
  fi
  if is_root; then
    write_if_changed /etc/containers/containers.conf.d/50-tinymlops.conf "$PODMAN_CONF"
    # Podman 4.3 reads containers.conf.d; fall back to the main file if this one does not.
    if [ "$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)" != runc ]; then
      log "podman ignores containers.conf.d here; writing /etc/containers/containers.conf"
      write_if_changed /etc/containers/containers.conf "$PODMAN_CONF"
    fi
  fi
  podman info >/dev/null 2>&1 || { log "podman info fails:"; podman info 2>&1 | tail -3 >&2; return 1; }
  podman_runs || { log "podman cannot run a container (see: podman --log-level=debug run ...)"; return 1; }
}

engine_name() {
  if [ -n "${CONTAINER_ENGINE:-}" ]; then
    if "$CONTAINER_ENGINE" info >/dev/null 2>&1; then echo "$CONTAINER_ENGINE"; return; fi
    log "CONTAINER_ENGINE=$CONTAINER_ENGINE does not answer ('$CONTAINER_ENGINE info' fails); looking for another"
  fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  if setup_podman; then echo podman; return; fi
  log "no container engine works here. Start a Docker daemon, or install podman and runc"
  log "(Debian: sudo apt-get install podman runc) and rerun as root so this script can configure them."
  exit 1
}

# Does the Docker Engine API answer at this DOCKER_HOST (unix:// or tcp://)?
pings() {
  case $1 in
    unix://*) curl -sf --max-time 3 --unix-socket "${1#unix://}" http://d/_ping ;;
    tcp://*) curl -sf --max-time 3 "http://${1#tcp://}/_ping" ;;
    *) return 1 ;;
  esac 2>/dev/null | grep -qx OK
}

engine_socket() {
  local h
  if [ -n "${DOCKER_HOST:-}" ]; then
    if pings "$DOCKER_HOST"; then echo "$DOCKER_HOST"; return; fi
    log "DOCKER_HOST=$DOCKER_HOST does not answer; looking for another"
  fi
  # A Docker daemon's socket, else the podman service this script started earlier.
  for h in unix:///var/run/docker.sock "unix://$RUN_DIR/podman.sock"; do
    if pings "$h"; then echo "$h"; return; fi
  done
  setup_podman || { log "no Docker Engine API here and podman does not work; install podman and runc (as root)"; exit 1; }
  local sock=$RUN_DIR/podman.sock
  mkdir -p "$RUN_DIR"
  rm -f "$sock"  # a stale socket of a service that died
  # Detached from this shell and its terminal: the service outlives make and CI steps.
  setsid nohup podman system service --time=0 "unix://$sock" >"$RUN_DIR/podman-service.log" 2>&1 </dev/null &
  for _ in $(seq 40); do
    if pings "unix://$sock"; then log "podman serves the Docker API at $sock"; echo "unix://$sock"; return; fi
    sleep 0.5
  done
  log "podman system service did not answer within 20 s; see $RUN_DIR/podman-service.log"
  exit 1
}

case ${1:-} in
  name) engine_name ;;
  socket) engine_socket ;;
  *) echo "usage: $0 name|socket" >&2; exit 2 ;;
esac
