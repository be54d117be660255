# kling-mock as a container: a team sandbox or a CI service.
#   docker build -t kling-mock .
#   docker run --rm -p 8080:8080 -e KLING_MOCK_PUBLIC_URL=http://localhost:8080 kling-mock
# Every option of `kling-mock --help` can be given as an argument or as its KLING_MOCK_* variable.

# ---- build stage: the Rust toolchain, the same major release the project is tested with ----
FROM rust:1.95-bookworm AS build
WORKDIR /src

# 1. Dependencies only, so this (slow) layer is reused while just the sources change: the
#    manifests and lock file with stub sources, built once.
COPY Cargo.toml Cargo.lock ./
COPY mock-server/Cargo.toml mock-server/Cargo.toml
COPY contract-tests/Cargo.toml contract-tests/Cargo.toml
RUN mkdir -p mock-server/src contract-tests/src \
 && echo 'fn main() {}' > mock-server/src/main.rs && touch mock-server/src/lib.rs \
 && echo 'fn main() {}' > contract-tests/src/main.rs && touch contract-tests/src/lib.rs \
 && cargo build --release --locked -p kling-mock \
 && rm -rf mock-server/src contract-tests/src

# 2. The sources (fixtures are compiled into the binary), then the real build. `touch` makes
#    cargo rebuild the crate whose stub was built above.
COPY fixtures fixtures
COPY mock-server mock-server
COPY contract-tests contract-tests
RUN touch mock-server/src/main.rs mock-server/src/lib.rs \
 && cargo build --release --locked -p kling-mock

# ---- runtime stage: Debian bookworm, the glibc the binary was linked against ----
FROM debian:bookworm-slim
# ca-certificates: callbacks to https:// receivers verify their certificates against these.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin kling
COPY --from=build /src/target/release/kling-mock /usr/local/bin/kling-mock

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
#   KLING_MOCK_SEED=42                    reproducible ids and dice
#   KLING_MOCK_TIMINGS=text-to-audio=0s/2s

USER 10001
EXPOSE 8080
# The binary probes its own /__mock/health (no curl in the image); it reads the port from
# KLING_MOCK_BIND like the server does.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["kling-mock", "--healthcheck"]
ENTRYPOINT ["kling-mock"]
