# Station daemon image: `docker build -t station .`
# Run: docker run -v "$PWD":/repo -v station-data:/data -p 7878:7878 -e STATION_ADMIN_TOKEN=... station
# The workflow repository is mounted at /repo and the SQLite database lives in the /data volume. The image binds to
# 0.0.0.0, which Station refuses without API tokens: configure server.tokens in the repository's station.yaml, e.g.
# `tokens: [{name: admin, role: admin, env: STATION_ADMIN_TOKEN}]`, and pass the variable with -e.
# The daemon runs as user node (uid 1000). Reading the mounted checkout works whoever owns it (safe.directory below);
# git polling and the push webhook also write to /repo/.git (fetch, fast-forward), so then the checkout must be
# writable by uid 1000 (or run with --user <owner uid> and a /data that user can write).

# --- build: compiles TypeScript and better-sqlite3's native module (needs python3, make, g++) -------------------------
FROM node:22-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY schemas ./schemas
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

# --- runtime: node, git (sync, polling), tini (reaps shell.exec children), openssl (cert-expiry-check), non-root ------
FROM node:22-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini openssl \
 && rm -rf /var/lib/apt/lists/* \
 # The mounted repository belongs to another uid: let git read it anyway.
 && git config --system --add safe.directory '*' \
 && mkdir -p /repo /data && chown node:node /repo /data
WORKDIR /app
# The application stays owned by root: the daemon's user can run it but not change it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production \
    STN_REPO=/repo \
    STN_DB=/data/station.db \
    STN_HOST=0.0.0.0 \
    STN_PORT=7878
USER node
VOLUME ["/repo", "/data"]
EXPOSE 7878
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.STN_PORT || 7878) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) lets running steps finish within server.shutdownGraceSeconds: give docker stop more time
# than that (docker stop -t 40, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
