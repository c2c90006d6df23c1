# walhook image: build with the dev dependencies, run with the production ones
# only. Node 22 LTS (package.json engines: >= 20.18).
#   docker build -t walhook .
#   docker run -e WALHOOK_DATABASE_URL=postgres://... -p 8080:8080 walhook

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:22-bookworm-slim AS runtime
# tini is PID 1: it forwards SIGTERM to node (graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# walhook binds 127.0.0.1 unless told otherwise; a container must listen on all
# interfaces to be reachable, so the image says so explicitly. The Host check
# (api.allowedHosts) still refuses names other than IP addresses, single-label
# names (a Compose service) and *.localhost: add the names your clients use.
# WALHOOK_API_OPS_LISTEN=0.0.0.0:9090 moves /metrics and /readyz to a port of their own.
ENV NODE_ENV=production \
    WALHOOK_API_LISTEN=0.0.0.0:8080
COPY package.json package-lock.json ./
# test/integration/runtime-image.test.ts runs this same install in a clean directory.
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli.js"]
CMD ["start", "--config", "/app/config/walhook.yaml"]
