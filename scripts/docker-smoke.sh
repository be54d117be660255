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
dockerd_log=${DOCKER_BASES_DIR:-/var/tmp/docker-bases}/dockerd.log
skip() {
  say "################################################################################"
  say "SKIPPED: $*; the image was NOT checked"
  say "################################################################################"
  exit 0
}
started_engine=""
if ! docker info >/dev/null 2>&1; then
  started_engine=yes
  # An engine killed without its shutdown (a machine handed over as it was) leaves its pid file
  # behind, and a new one refuses to start while the pid in it lives, even as a zombie.
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && ! grep -qs '^State:[[:space:]]*[RSD]' "/proc/$pid/status"; then
      say "removing the stale $pidfile (pid $pid is not running)"
      rm -f "$pidfile"
    fi
  done
fi
if [ -f "$bases" ]; then
  if ! bash "$bases"; then
    if ! docker info >/dev/null 2>&1; then
      tail -n 20 "$dockerd_log" 2>/dev/null || true
      # Only a machine that cannot run an engine at all may skip: no root to start one, or a
      # kernel or sandbox that refuses what dockerd needs. Anything else is a failure.
      if [ "$(id -u)" != 0 ]; then
        skip "no Docker engine runs and this user cannot start one"
      elif grep -qiE 'operation not permitted|permission denied|cgroup.*(not|no such)|not supported by the kernel|devmapper|no storage driver' "$dockerd_log" 2>/dev/null; then
        skip "this machine cannot run a Docker engine (dockerd: $(grep -iE 'operation not permitted|permission denied|cgroup|kernel|storage driver' "$dockerd_log" | tail -n 1))"
      fi
      say "FAILED: dockerd did not start (log above: $dockerd_log)"
      exit 1
    fi
    say "FAILED: the Docker engine runs, but the base images could not be made"
    exit 1
  fi
elif ! docker info >/dev/null 2>&1; then
  skip "no Docker engine runs here (and no ../shared/tools/docker-base-images.sh to start one)"
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
