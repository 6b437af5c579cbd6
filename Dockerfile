# labtail's container image: build the web app and the binary, then copy
# them into a small runtime image that runs as a non-root user.
#
#   docker build -t labtail .
#   docker run -p 3000:3000 -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     --group-add "$(stat -c %g /var/run/docker.sock)" labtail serve --listen 0.0.0.0:3000
#
# The base images are build arguments, so a machine without a registry can
# build from images it imported itself. With a `prebuilt/` directory in the
# context (a `labtail` binary built for the runtime image's libc, and
# optionally `web/`, the built web app) the build stages copy those instead
# of compiling: that is how CI builds this image (scripts/image-check.sh).

ARG BUILD_IMAGE=rust:1.95-bookworm
ARG WEB_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${WEB_IMAGE} AS web
WORKDIR /src
COPY . .
RUN if [ -d prebuilt/web ]; then cp -r prebuilt/web /dist; \
    else cd web && npm ci --no-audit --no-fund && npm run build && cp -r dist /dist; fi

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN if [ -x prebuilt/labtail ]; then cp prebuilt/labtail /labtail; \
    else cargo build --release --locked -p labtail && cp target/release/labtail /labtail; fi \
    && mkdir -p /empty

FROM ${RUNTIME_IMAGE} AS runtime
# No RUN here: the runtime stage works on any base with glibc, even one
# without a shell. The data directory is created owned by the labtail user.
COPY --from=build /labtail /usr/local/bin/labtail
COPY --from=web /dist /usr/share/labtail/web
COPY --from=build --chown=10001:10001 /empty /var/lib/labtail
USER 10001:10001
WORKDIR /var/lib/labtail
ENV LABTAIL_DATA_DIR=/var/lib/labtail \
    LABTAIL_WEB_DIR=/usr/share/labtail/web \
    LABTAIL_LISTEN=0.0.0.0:3000
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/labtail"]
CMD ["serve"]
