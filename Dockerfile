# syntax=docker/dockerfile:1
# One image for every TokenHub process: the gateway (default), the operator, the mock upstream
# and the CLI (`docker run IMAGE validate -f /work`).
#
# BASE_IMAGE: any Debian-based image with Node.js (a supported LTS) and npm on the PATH. A real
# pipeline uses the official node:<lts>-slim; hack/node/image.sh builds the same file with buildah
# FROM a base it assembles locally (debootstrap + the Node.js binary), because no registry is
# reachable there.
ARG BASE_IMAGE=node:24-bookworm-slim

# --- build: all dependencies, TypeScript compiled to dist/ ---------------------------------
FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# `npm ci` would run the `prepare` script (tsc) before the sources are here.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsconfig.build.json also includes bench/, which is left out of the context: only src/ ships.
RUN npm run build

# --- runtime: production dependencies, compiled code, the CRDs and the example catalog -----
FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would try to compile with a TypeScript that --omit=dev left out.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
COPY crds ./crds
COPY examples ./examples
# `tokenhub` on the PATH: the operator starts gateway pods with command ["tokenhub"].
RUN ln -s /app/bin/tokenhub.js /usr/local/bin/tokenhub
# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can verify it (the chart runs the
# pods as 10001 as well). Nothing under /app is writable by it.
RUN groupadd --system --gid 10001 tokenhub \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tokenhub
USER 10001:10001
# 8080: gateway API; 8081: operator health probes and the mock upstream in the e2e setup.
EXPOSE 8080 8081
ENTRYPOINT ["node", "/app/bin/tokenhub.js"]
CMD ["gateway", "--kubernetes"]
