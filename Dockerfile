# The Portcullis container image: a Rust build stage and a Debian slim
# runtime that holds only the binary, CA certificates and glibc.
#
#   docker build -t portcullis .                               # postgres,sqlite,redis,vault
#   docker build --build-arg FEATURES=sqlite -t portcullis:sqlite .
#
# Both base images are build arguments. Where no registry answers (the CI
# here), the build stage takes a binary built on the host instead of
# compiling, and both stages use a locally built base image; see
# scripts/container-checks.sh:
#
#   cargo build --release --no-default-features --features postgres,sqlite,redis,vault
#   install -D target/release/portcullis target/image/portcullis
#   docker build --build-arg BUILD_IMAGE=portcullis-local/runtime \
#     --build-arg RUNTIME_IMAGE=portcullis-local/runtime \
#     --build-arg PREBUILT=target/image/portcullis -t portcullis .
#
# A host binary runs in the runtime stage when it was linked against a glibc
# no newer than the runtime's (Debian 12, glibc 2.36): build it on Debian 12.
ARG BUILD_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
# The Cargo features, i.e. the adapters compiled in.
ARG FEATURES=postgres,sqlite,redis,vault
# A binary in the build context to use instead of compiling (see above).
ARG PREBUILT=
WORKDIR /src
COPY . .
RUN if [ -n "$PREBUILT" ]; then \
      install -D -m 755 "$PREBUILT" /out/portcullis; \
    else \
      cargo build --release --locked --no-default-features --features "$FEATURES" \
      && install -D -m 755 target/release/portcullis /out/portcullis; \
    fi

FROM ${RUNTIME_IMAGE} AS runtime
# A system user without a shell or a password; its home is the data volume.
RUN groupadd --system --gid 10001 portcullis \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/portcullis --shell /usr/sbin/nologin portcullis \
    && mkdir -p /var/lib/portcullis \
    && chown portcullis:portcullis /var/lib/portcullis \
    && chmod 700 /var/lib/portcullis
COPY --from=build /out/portcullis /usr/local/bin/portcullis
# Listen on every interface of the container; SQLite data on the volume
# unless DATABASE_URL names a Postgres server.
ENV PORTCULLIS_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/portcullis/portcullis.db
WORKDIR /var/lib/portcullis
USER 10001:10001
VOLUME ["/var/lib/portcullis"]
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 CMD ["portcullis", "healthcheck"]
ENTRYPOINT ["portcullis"]
