# The gateway's Node host (fleetgate-gateway), its database in the volume /var/lib/fleetgate.
# Built by `npm run images` from a staged copy of the package (the build itself needs no
# network: npm runs on the build machine, with its registry settings).
# Run:
#   docker run -d --restart unless-stopped -p 8787:8787 -v fleetgate-gateway:/var/lib/fleetgate \
#     -e FLEETGATE_ADMIN_TOKEN=... fleetgate-gateway
ARG NODE_IMAGE=node:20-bookworm-slim

# Stage 1: the package as staged by `npm run images` (dist/, the launchers and the production
# dependencies from the lockfile), less what nothing loads at run time (docker/prune.js).
# Exec-form RUN: no shell needed.
FROM ${NODE_IMAGE} AS app
COPY . /opt/fleetgate/
RUN ["node", "/opt/fleetgate/prune.js", "/opt/fleetgate"]

# Stage 2: Node.js and the pruned app only, as an unprivileged user
# (uid 1000, `node` in the official image) that owns the database folder.
FROM ${NODE_IMAGE}
COPY --from=app /opt/fleetgate /opt/fleetgate
COPY --from=app --chown=1000:1000 /var/lib/fleetgate /var/lib/fleetgate
ENV NODE_ENV=production \
    FLEETGATE_HOST=0.0.0.0 \
    FLEETGATE_PORT=8787 \
    FLEETGATE_DB_URL=file:/var/lib/fleetgate/fleetgate.db
USER 1000:1000
# (No VOLUME or EXPOSE: `docker run` names the volume and the port; each instruction costs
# a layer commit, slow on some storage drivers.)
ENTRYPOINT ["node", "/opt/fleetgate/dist/gateway/src/node.js"]
