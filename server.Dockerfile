# ndn-registry server: publishes a registry's blobs over NDN.
# docker build -f server.Dockerfile -t ndn-registry-server .
FROM node:24-bookworm-slim AS build
WORKDIR /src
RUN npm i -g pnpm@10
COPY package.json pnpm-workspace.yaml pnpm-lock.yaml tsconfig.base.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY client/package.json client/
COPY test/package.json test/
RUN pnpm install --frozen-lockfile --filter @ndnreg/server...
COPY shared shared
COPY server server
RUN pnpm exec tsc -b server && chmod +x server/dist/main.js && pnpm --filter @ndnreg/server deploy --prod --legacy /out

FROM node:24-bookworm-slim
# The server's allocator (its entry file preloads it): freed memory goes back to the system at idle.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
# Settings are flags after the image or NDNREG_* variables (-e); the forwarder's socket is expected at
# /run/nfd/nfd.sock (--router's default).
ENV NODE_ENV=production NDNREG_UPSTREAM=http://registry:5000
WORKDIR /app
COPY --from=build /out .
USER node
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The entry file's shebang holds the node flags and the allocator's settings: every launcher runs that file.
ENTRYPOINT ["/app/dist/main.js"]
