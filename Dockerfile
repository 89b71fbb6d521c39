# syntax=docker/dockerfile:1
# Two stages: build the release binary with the full toolchain, run it on a slim image as a non-root user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
COPY openapi ./openapi
RUN cargo build --release --locked --bin farmlokal

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 farmlokal
COPY --from=build /src/target/release/farmlokal /usr/local/bin/farmlokal
USER farmlokal
ENV FARMLOKAL_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["farmlokal"]
CMD ["serve"]
