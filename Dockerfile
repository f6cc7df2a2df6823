# syntax=docker/dockerfile:1.7
# Confab node image: `docker build -t confab .` from the repository root.
#
# Stage 1 builds the web client (web/dist) with Node; stage 2 builds the `confab` binary
# in release mode; stage 3 is a slim Debian with just the binary, the web client (served
# at / from CONFAB_WEB_DIR) and CA roots, run as an unprivileged user. The Helm chart
# (charts/confab) expects uid 10001, port 8080 and a read-only root filesystem.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN node build.mjs

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# libsqlite3-sys compiles SQLite from source and ring has C parts: a C toolchain suffices.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# The caches keep the registry and compiled dependencies between builds; the binary is
# copied out in the same step because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p confab-node \
 && install -D -m 0755 target/release/confab /out/usr/local/bin/confab
COPY --from=web /src/web/dist /out/app/web/dist

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 confab \
 && useradd --system --uid 10001 --gid confab --home-dir /var/lib/confab --shell /usr/sbin/nologin confab \
 && install -d -o confab -g confab -m 0750 /var/lib/confab
COPY --from=build /out/ /
WORKDIR /app
# Outside Kubernetes (`docker run -p 8080:8080 confab`) a standalone node keeps its
# SQLite file and its uploads in the confab user's home; the chart overrides them.
ENV CONFAB_LISTEN=0.0.0.0:8080 \
    CONFAB_DATABASE_URL=sqlite:///var/lib/confab/confab.db?mode=rwc \
    CONFAB_STORAGE_DIR=/var/lib/confab/uploads \
    CONFAB_WEB_DIR=/app/web/dist
USER 10001:10001
EXPOSE 8080
# `confab serve` by default; `docker run confab migrate` (or `config`, `--help`) runs
# the other commands.
ENTRYPOINT ["/usr/local/bin/confab"]
CMD ["serve"]
