# The GPU node daemon (fleetgate-node). It runs engines as containers through the host's
# Docker (the mounted socket) and sees the GPUs with `--gpus all`; it uses the host's
# network, where the engines it starts listen. Its identity lives in /var/lib/fleetgate.
# Built by `npm run images` (see docker/gateway.Dockerfile).
# Join (registers once; a restart only runs, see `fleetgate-node join --help`):
#   docker run -d --restart unless-stopped --network host --gpus all \
#     -v /var/run/docker.sock:/var/run/docker.sock -v fleetgate-node:/var/lib/fleetgate \
#     fleetgate-node join --gateway https://gateway.example.com --token fgr-...
ARG NODE_IMAGE=node:20-bookworm-slim

# Stage 1: the same as the gateway's, so its layers are shared.
FROM ${NODE_IMAGE} AS app
COPY . /opt/fleetgate/
RUN ["node", "/opt/fleetgate/prune.js", "/opt/fleetgate"]

# Stage 2: Node.js and the app only. It runs as root: the Docker socket belongs to the
# host's docker group, whose id the image cannot know (and access to that socket is root
# on the host anyway).
FROM ${NODE_IMAGE}
COPY --from=app /opt/fleetgate /opt/fleetgate
# Model weights go to a Docker volume shared by the engines (a path here would be a path
# inside this container, which the host's Docker cannot mount).
ENV NODE_ENV=production \
    FLEETGATE_NODE_CONFIG=/var/lib/fleetgate/node.json \
    FLEETGATE_MODEL_CACHE=fleetgate-models
ENTRYPOINT ["node", "/opt/fleetgate/gpu-node/bin.js"]
