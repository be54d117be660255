# kling-mock as a container: a team sandbox or a CI service.
#   docker build -t kling-mock .
#   docker run --rm -p 8080:8080 -e KLING_MOCK_PUBLIC_URL=http://localhost:8080 kling-mock
# Every option of `kling-mock --help` can be given as an argument or as its KLING_MOCK_* variable.
# The image holds the server alone (no bench, no harness): see the README's docker section for
# its size, a compose file for a team sandbox, and `scripts/docker-smoke.sh`, which CI runs.
#
# Nothing here names a workspace member or a fixture folder: the dependency layer is planned by
# cargo-chef from whatever manifests the workspace has, and the sources are copied whole (less
# .dockerignore), so a new member or folder needs no edit here.

# ---- build stages: the Rust toolchain, the same major release the project is tested with ----
FROM rust:1.95-bookworm AS chef
# nasm: OpenH264 (the video encoder, built from source) then uses its SIMD assembly, which halves
# the CPU of making a video (without it the build still works, in plain C, with the same bytes).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nasm \
 && rm -rf /var/lib/apt/lists/*
# cargo-chef turns the workspace's manifests and lock file into a recipe, then builds only the
# dependencies from it; pinned, and installed from its own lock file.
RUN cargo install cargo-chef --version 0.1.78 --locked \
 && rm -rf "$CARGO_HOME/registry" "$CARGO_HOME/git"
# The image's binary carries symbols but no debug info (the workspace's release profile keeps
# line tables for profiling, which would make it five times larger).
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo
WORKDIR /src

# 1. The recipe: this stage sees every source, but what it outputs (recipe.json) changes only
#    when a manifest or Cargo.lock does, so the next stage's cache key is the dependencies.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# 2. Dependencies only (the slow layer), reused while just the sources change.
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p kling-mock --recipe-path recipe.json
# 3. The sources (fixtures are compiled into the binary), then the real build of the server only.
COPY . .
RUN cargo build --release --locked -p kling-mock \
 && install -D -m 0755 target/release/kling-mock /out/kling-mock

# ---- runtime stage: Debian bookworm, the glibc the binary was linked against ----
FROM debian:bookworm-slim
# ca-certificates: callbacks to https:// receivers verify their certificates against these.
# /var/lib/kling-mock: the working directory and the place for --state-file; a named volume
# mounted there inherits its owner, so the non-root server can write to it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin kling \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/kling-mock
COPY --from=build /out/kling-mock /usr/local/bin/kling-mock

# Listen on every interface inside the container (the host reaches it through -p).
ENV KLING_MOCK_BIND=0.0.0.0:8080
# Base of the media URLs written into results: the address clients use to reach the container.
# Override it, e.g. -e KLING_MOCK_PUBLIC_URL=http://localhost:8080 (or your sandbox's hostname).
ENV KLING_MOCK_PUBLIC_URL=http://localhost:8080
# Log lines as JSON (one object a line), for container log collectors.
ENV KLING_MOCK_LOG_FORMAT=json
# Other useful variables (unset by default):
#   KLING_MOCK_ACCOUNTS=ak1:sk1,ak2:sk2   accounts (default: the development account)
#   KLING_MOCK_CONTROL_TOKEN=...          protect /__mock/ (recommended on a shared network)
#   KLING_MOCK_CONFIG=/config/mock.toml   a config file mounted with -v
#   KLING_MOCK_STATE_FILE=/var/lib/kling-mock/state.db   keep state (mount a volume there)
#   KLING_MOCK_SEED=42                    reproducible ids and dice
#   KLING_MOCK_TIMINGS=text-to-audio=0s/2s

USER 10001
WORKDIR /var/lib/kling-mock
EXPOSE 8080
# SIGTERM (docker stop) saves the state and lets queued callbacks go out for up to 5 s: give it
# `docker stop -t 10` or compose's stop_grace_period: 10s.
STOPSIGNAL SIGTERM
# The binary probes its own /__mock/health (no curl in the image); it reads the port from
# KLING_MOCK_BIND like the server does.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["kling-mock", "--healthcheck"]
ENTRYPOINT ["kling-mock"]
