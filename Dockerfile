# The osprey image: one static-ish binary for `osprey serve` and `osprey agent`.
#   docker build -t osprey:latest .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p osprey && strip target/release/osprey

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /data osprey
COPY --from=build /src/target/release/osprey /usr/local/bin/osprey
USER 10001
WORKDIR /data
EXPOSE 7800 9200 4317 4318 16686 14250 14268 6831/udp 6832/udp 5778 9411 24224
ENTRYPOINT ["/usr/local/bin/osprey"]
CMD ["serve", "--data-dir", "/data"]
