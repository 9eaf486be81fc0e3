# syntax=docker/dockerfile:1
# creddy: multi-stage image. The build stage has the toolchain to compile better-sqlite3's native
# module against the image's own Node; the runtime stage has only Node, the compiled output and
# production dependencies, and runs as an unprivileged user.
#
#   docker build -t creddy .
#   docker run … creddy            (see docs/docker.md: config mount, KEK/audit key as secrets, /data volume)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
# python3, make and g++ are what node-gyp needs to compile better-sqlite3 from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Compile against the headers that ship with this Node (no header download, no prebuilt binary
# fetched from the network): the .node file is built here, for exactly this Node ABI and libc.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# Dependencies first, so source edits do not invalidate the (slow) native build layer.
COPY package.json package-lock.json ./
# better-sqlite3 is the only dependency with an install script. Install everything with scripts
# off, then build exactly that one: the same steps whether npm is 10 (this image: runs every
# dependency's scripts unless told not to) or >= 11 (runs only those approved in package.json
# "allowScripts", where better-sqlite3 is), and a failed native build stops the image build here.
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# After the build, drop dev dependencies and keep only better-sqlite3's compiled addon: its C
# sources and object files are ~25 MB the runtime never reads. The last line proves the trimmed
# module still loads.
ARG SQLITE_DIR=node_modules/better-sqlite3
RUN npm run build \
 && npm prune --omit=dev \
 && mv ${SQLITE_DIR}/build/Release/better_sqlite3.node /tmp/better_sqlite3.node \
 && rm -rf ${SQLITE_DIR}/build ${SQLITE_DIR}/deps ${SQLITE_DIR}/src \
 && mkdir -p ${SQLITE_DIR}/build/Release \
 && mv /tmp/better_sqlite3.node ${SQLITE_DIR}/build/Release/better_sqlite3.node \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    CREDDY_CONFIG=/etc/creddy/creddy.yaml
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

USER 10001:10001
# The SQLite database, the WAL and (dev only) generated key files live here.
VOLUME ["/data"]
EXPOSE 8400
# No curl in the slim image: Node itself probes liveness. Assumes the config listens on :8400.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8400/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["server", "--config", "/etc/creddy/creddy.yaml"]
