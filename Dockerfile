# NyroDB server image. Build: docker build -t nyrodb .
# Run:   docker run -d --name nyrodb -p 7070:7070 -v nyrodb-data:/data nyrodb
# See docs/OPERATIONS.md.

# --- build stage ---------------------------------------------------------------------------
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nyro-cli \
    && install -m 0755 target/release/nyrodb /usr/local/bin/nyrodb

# --- runtime stage -------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 nyrodb \
    && useradd --system --uid 10001 --gid nyrodb --home-dir /data --shell /usr/sbin/nologin nyrodb \
    && install -d -o nyrodb -g nyrodb -m 0750 /data /backups
COPY --from=build /usr/local/bin/nyrodb /usr/local/bin/nyrodb

# Every config key can be set as NYRODB_<SECTION>_<KEY>; mount a nyrodb.toml and pass
# `--config FILE` for collections. Set NYRODB_SERVER_AUTH_TOKEN when the port is reachable
# by anyone but you.
ENV NYRODB_STORAGE_PATH=/data \
    NYRODB_SERVER_LISTEN=0.0.0.0:7070 \
    NYRODB_SERVER_BACKUP_ROOT=/backups \
    NYRODB_LOG_FORMAT=json \
    RUST_LOG=info

USER nyrodb
WORKDIR /data
VOLUME ["/data", "/backups"]
EXPOSE 7070
# SIGTERM makes the server shut down gracefully; give it time (docker stop -t 120).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:7070/health || exit 1
ENTRYPOINT ["/usr/local/bin/nyrodb"]
CMD ["serve"]
