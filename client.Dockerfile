# ndn-registry client: a local registry endpoint whose blob GETs travel over NDN.
# docker build -f client.Dockerfile -t ndn-registry-client .
FROM node:24-bookworm-slim AS build
WORKDIR /src
RUN npm i -g pnpm@10
COPY package.json pnpm-workspace.yaml pnpm-lock.yaml tsconfig.base.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY client/package.json client/
COPY test/package.json test/
RUN pnpm install --frozen-lockfile --filter @ndnreg/client...
COPY shared shared
COPY client client
RUN pnpm exec tsc -b client && chmod +x client/dist/main.js && pnpm --filter @ndnreg/client deploy --prod --legacy /out

FROM node:24-bookworm-slim
ENV NODE_ENV=production NDNREG_LISTEN=0.0.0.0:5000
WORKDIR /app
COPY --from=build /out .
USER node
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The entry file's shebang holds the node flags: every launcher runs that file.
ENTRYPOINT ["/app/dist/main.js"]
