# syntax=docker/dockerfile:1
# ghostwire: one image for every role (webhook, injected init container and watcher, shadow controller).
#   build:   npm ci (with dev dependencies) -> tsc -> prune to production dependencies
#   runtime: node + iptables (iptables, ip6tables, *-restore/*-save; nft and legacy backends), the compiled
#            dist/src, production node_modules and package.json; `ghostwire` on PATH; non-root by default.
# The webhook runs as the default user 65532. The injected init container and watcher set runAsUser: 0 with
# NET_ADMIN/NET_RAW themselves (iptables needs them); nothing here is setuid.
# test/unit/image-contents.test.ts reproduces the runtime file set without Docker and checks this file's paths.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev \
 && chmod 0755 dist/src/cli.js

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ghostwire" \
      org.opencontainers.image.description="In-cluster L4 traffic switcher: mutating webhook, iptables init container and watcher, shadow tunnel controller" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables conntrack iproute2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
RUN ln -s /app/dist/src/cli.js /usr/local/bin/ghostwire \
 && ghostwire --version
USER 65532:65532
# 8443: webhook HTTPS (admission, /healthz, /readyz, /metrics); 8081: watcher /healthz and /metrics.
EXPOSE 8443 8081
ENTRYPOINT ["ghostwire"]
CMD ["--help"]
