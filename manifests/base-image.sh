#!/usr/bin/env bash
# A Debian 12 + Python 3.11 base image built from the Debian archive, for machines
# where no container registry answers (python:3.11-slim-bookworm cannot be pulled).
# Same distribution and Python minor as that image, so the pinned set installs alike.
#
#   bash manifests/base-image.sh          prints the image name; skips if it exists
#   FORCE=1 bash manifests/base-image.sh  rebuilds it
# Env: CONTAINER_ENGINE (default: manifests/engine.sh name), DEBIAN_MIRROR.
set -euo pipefail

NAME=localhost/tinymlops/base:bookworm-py3.11
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ENGINE=${CONTAINER_ENGINE:-$(bash "$(dirname "$0")/engine.sh" name)}
log() { echo "base-image.sh: $*" >&2; }

if [ "${FORCE:-0}" != 1 ] && "$ENGINE" image inspect "$NAME" >/dev/null 2>&1; then
  log "$NAME exists (FORCE=1 rebuilds it)"
  echo "$NAME"
  exit 0
fi

[ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap (Debian)"
  apt-get -o DPkg::Lock::Timeout=600 -qq update >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends debootstrap >&2
fi

ROOTFS=$(mktemp -d /var/tmp/tinymlops-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
# minbase has no passwd (useradd), which the images need for their non-root user.
log "debootstrap bookworm from $MIRROR (a few minutes)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
  bookworm "$ROOTFS" "$MIRROR" >&2
# Keep the image small: apt lists and caches are refetched by any RUN apt-get update.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*

# An imported tarball carries no config: give it the env and command the python image has.
tar -C "$ROOTFS" -c . | "$ENGINE" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$NAME" >&2
log "built $NAME"
echo "$NAME"
