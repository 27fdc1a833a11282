# syntax=docker/dockerfile:1
#
# The daap image: a release build of `daap` on debian:bookworm-slim, running as the
# unprivileged user 10001. Build with
#   docker build -t daap:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
# The build context is restricted by .dockerignore to Cargo.toml, Cargo.lock, src/ and
# migration/: a new file the build needs (a build.rs, an include_str! target) must be
# added to both files.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

###############################################################################
# Builder
###############################################################################
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder

# Keep symbol names (readable panics and backtraces) but drop debug info.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

WORKDIR /src

# 1. Dependency layer: compile every dependency against stub sources, so that a change to
#    src/ or migration/src/ does not rebuild the dependency tree. It is rebuilt only when
#    Cargo.toml, migration/Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src migration/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked --bin daap \
    && rm -rf src migration/src

# 2. The real sources. COPY keeps the files' modification times, which may be older than
#    the stub build above, so touch the crate roots to make cargo rebuild both local crates.
COPY src src
COPY migration/src migration/src
RUN touch src/main.rs src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked --bin daap \
    && install -D -m 0755 target/release/daap /out/daap \
    && /out/daap --version

###############################################################################
# Runtime
###############################################################################
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="daap" \
      org.opencontainers.image.description="A metadata API for data products: versioned table schemas, a change feed and tracked uploads" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# ca-certificates only: TLS to PostgreSQL, S3 and JWKS endpoints. The package is not
# version-pinned on purpose: Debian replaces it in bookworm-security and removes the old
# version from the archive, so a pin would break rebuilds; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 daap \
    && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
       --home-dir /nonexistent --shell /usr/sbin/nologin daap

COPY --from=builder /out/daap /usr/local/bin/daap

# Listen on every interface inside the container; JSON logs; keep the (unused with
# PostgreSQL) embedded-database directory under /tmp so a read-only root file system works
# when /tmp is a writable volume.
ENV DAAP_LISTEN=0.0.0.0:8080 \
    LOG_FORMAT=json \
    DAAP_DATA_DIR=/tmp/daap

# Numeric user so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080

# `daap serve` handles SIGTERM: it stops accepting, drains in-flight requests for
# DAAP_SHUTDOWN_GRACE and exits 0. Other commands: `daap migrate up|down|status`, `daap openapi`.
ENTRYPOINT ["/usr/local/bin/daap"]
CMD ["serve"]
