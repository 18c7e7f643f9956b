# xcrack in a container: built from this repository (contracts are precompiled in contracts/artifacts,
# so no solc at build time), run as an unprivileged user. Live mode:
#   docker build -t xcrack .
#   docker run --rm -v $PWD/live:/var/lib/xcrack --env-file live.env xcrack \
#       live --config /var/lib/xcrack/live.toml
# (live.env holds the key variables [keys] names; the config, its sign-off record, the journal and the
# stop/go files live in the mounted directory.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY contracts contracts
COPY config config
COPY scenarios scenarios
COPY data data
COPY benches benches
RUN cargo build --release --locked --bin xcrack

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/xcrack xcrack && mkdir -p /var/lib/xcrack && chown xcrack /var/lib/xcrack
COPY --from=build /src/target/release/xcrack /usr/local/bin/xcrack
USER xcrack
WORKDIR /var/lib/xcrack
ENTRYPOINT ["/usr/local/bin/xcrack"]
CMD ["--help"]
