#!/usr/bin/env bash
# The docker image, built and used for real (CI runs this from .ci/run):
#   1. a Docker engine: where ../shared/tools/docker-base-images.sh exists (the project's
#      machines, which reach no container registry) it installs and starts one if none runs and
#      makes the two base images the Dockerfile names; elsewhere the engine you have is used;
#   2. the examples' compose file is checked (`docker-compose config`, when docker-compose is
#      there or can be installed from Debian's packages);
#   3. scripts/docker_smoke.py: build, run, token, create, query, media, callback, health,
#      HEALTHCHECK, SIGTERM, restore from a state volume. See that file.
# It skips (exit 0, one loud line) only when no Docker engine can run on this machine at all.
# Usage: scripts/docker-smoke.sh [--no-build] [--image NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'docker-smoke: %s\n' "$*"; }

bases=../shared/tools/docker-base-images.sh
started_engine=""
if ! docker info >/dev/null 2>&1; then
  started_engine=yes
fi
if [ -f "$bases" ]; then
  if ! bash "$bases"; then
    if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
      say "################################################################################"
      say "SKIPPED: no Docker engine can run on this machine (dockerd is installed but does"
      say "not start: see ${DOCKER_BASES_DIR:-/var/tmp/docker-bases}/dockerd.log); the image was NOT checked"
      say "################################################################################"
      tail -n 20 "${DOCKER_BASES_DIR:-/var/tmp/docker-bases}/dockerd.log" 2>/dev/null || true
      exit 0
    fi
    say "FAILED: the Docker engine runs, but the base images could not be made"
    exit 1
  fi
elif ! docker info >/dev/null 2>&1; then
  say "################################################################################"
  say "SKIPPED: no Docker engine runs here (and no ../shared/tools/docker-base-images.sh to"
  say "start one); the image was NOT checked"
  say "################################################################################"
  exit 0
fi
# An engine this script started is stopped again at the end (its images and layer cache stay on
# disk for the next run); one that was already running is left alone.
if [ -n "$started_engine" ]; then
  trap 'pkill -x dockerd 2>/dev/null || true' EXIT
fi

compose=examples/docker-sandbox/docker-compose.yml
if ! command -v docker-compose >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 || true
fi
if command -v docker-compose >/dev/null 2>&1; then
  KLING_MOCK_CONTROL_TOKEN=check docker-compose -f "$compose" config -q
  say "ok   $compose is a valid compose file (docker-compose config)"
else
  say "note: docker-compose is not installed: $compose was not validated"
fi

python3 scripts/docker_smoke.py "$@"
