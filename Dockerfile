# syntax=docker/dockerfile:1
# creddy: multi-stage image. The build stage has the toolchain to compile better-sqlite3's native
# module against the image's own Node; the runtime stage has only Node, the compiled output and
# production dependencies, and runs as an unprivileged user.
#
#   docker build -t creddy .
#   docker run … creddy            (see docs/deploy.md: config by file or environment, KEK/audit key as secrets, /data volume)

# Node 24, the maintained LTS (Node 20 reached end of life), pinned to an exact release. Pin the
# digest too once you can reach a registry, and keep it in review like any dependency:
#   docker buildx imagetools inspect node:24.22.3-bookworm-slim --format '{{json .Manifest.Digest}}'
#   → ARG NODE_IMAGE=node:24.22.3-bookworm-slim@sha256:<that digest>
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
# python3, make and g++ are what node-gyp needs to compile better-sqlite3 from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Compile against the headers that ship with this Node (node-gyp reads npm_config_nodedir; no
# header download): the .node file is built here, for exactly this Node ABI and libc.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# Dependencies first, so source edits do not invalidate the (slow) native build layer.
COPY package.json package-lock.json ./
# better-sqlite3 is the only dependency with an install script. Install everything with scripts
# off, then build exactly that one: the same steps whatever npm's policy on install scripts, and a
# failed native build stops the image build here. Its install script is `prebuild-install ||
# node-gyp rebuild --release`, and prebuild-install downloads a prebuilt binary unless told not
# to (npm_config_build_from_source, which npm 11 warns is an unknown config), so run only the
# second half, in the package's folder, with the node-gyp npm ships (npm explore puts it on PATH).
RUN npm ci --ignore-scripts \
 && npm explore better-sqlite3 -- node-gyp rebuild --release \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# After the build, drop dev dependencies (and the scope folders they leave empty) and keep only
# better-sqlite3's compiled addon: its C sources and object files are ~25 MB the runtime never
# reads. The last line proves the trimmed module still loads.
ARG SQLITE_DIR=node_modules/better-sqlite3
RUN npm run build \
 && npm prune --omit=dev \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -name '@*' -empty -delete \
 && mv ${SQLITE_DIR}/build/Release/better_sqlite3.node /tmp/better_sqlite3.node \
 && rm -rf ${SQLITE_DIR}/build ${SQLITE_DIR}/deps ${SQLITE_DIR}/src \
 && mkdir -p ${SQLITE_DIR}/build/Release \
 && mv /tmp/better_sqlite3.node ${SQLITE_DIR}/build/Release/better_sqlite3.node \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# The config: a file mounted at CREDDY_CONFIG (e.g. under /run/secrets), or the YAML itself in
# CREDDY_CONFIG_YAML, which wins; nothing under /etc/creddy needs to be writable, or to exist.
# NODE_OPTIONS: V8's young generation at 2 × 4 MB instead of 2 × 16 MB: ~20–25 MB less RSS under
# load (under 150 MB) for a few % more CPU per request (bench/README.md, "Memory under load").
# deploy/creddy.service sets the same; add your own flags to it rather than replacing it.
ENV NODE_ENV=production \
    CREDDY_CONFIG=/etc/creddy/creddy.yaml \
    NODE_OPTIONS=--max-semi-space-size=4
# A fixed, unprivileged uid/gid so volume ownership and secret file modes are predictable.
RUN groupadd --gid 10001 creddy \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin creddy \
 && mkdir -p /data /etc/creddy \
 && chown 10001:10001 /data \
 && chmod 0700 /data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config.example.yaml ./config.example.yaml
# `creddy` and the git helper on PATH, for `docker exec creddy creddy agent list` and the HEALTHCHECK.
RUN ln -s /app/dist/creddy.cjs /usr/local/bin/creddy \
 && ln -s /app/dist/git-credential-main.js /usr/local/bin/git-credential-creddy \
 && creddy version

USER 10001:10001
# The SQLite database and its WAL live here (and, in development only, generated key files).
VOLUME ["/data"]
EXPOSE 8400
# Readiness (store reachable, signing key loaded) at the address the server itself uses:
# CREDDY_PORT, else listen: in the config; a wildcard host is asked on loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 CMD ["creddy", "health"]
ENTRYPOINT ["creddy"]
CMD ["server"]
