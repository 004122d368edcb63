# The hub image (hub:local in docker-compose.yml): one image for `hub run` (API + workers +
# deadline engine), `hub db upgrade` and every operator command (`docker compose run --rm
# hub-api status`). Build: docker build -t hub:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TZ=Asia/Shanghai

RUN groupadd --system --gid 10001 hub \
 && useradd --system --uid 10001 --gid hub --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin hub

# Install the package (not editable); the sources are dropped afterwards. tzdata: the working-day
# clock needs Asia/Shanghai even if the base image ships without /usr/share/zoneinfo.
WORKDIR /tmp/src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY adapters ./adapters
RUN pip install . tzdata \
 && rm -rf /tmp/src

# Routing config and the county profiles; compose mounts ./routing.yaml over the baked copy.
WORKDIR /app
COPY routing.yaml ./routing.yaml
COPY profiles ./profiles

# State that is not in the database: paper spool (printable 纸质推送单) and attachment blobs.
# The directory is owned by the hub user so a named volume mounted here starts writable.
RUN mkdir -p /var/lib/hub/paper /var/lib/hub/blobs /app/var \
 && chown -R hub:hub /var/lib/hub /app/var

# Defaults that make `docker run hub:local` work alone (SQLite + embedded bus);
# docker-compose.yml sets PostgreSQL and RabbitMQ.
ENV HUB_DATABASE_URL=sqlite:////var/lib/hub/hub.db \
    HUB_ROUTING=/app/routing.yaml \
    HUB_PAPER_SPOOL=/var/lib/hub/paper \
    HUB_BLOB_DIR=/var/lib/hub/blobs \
    HUB_API_HOST=0.0.0.0 \
    HUB_API_PORT=8400 \
    HUB_LOG_LEVEL=INFO

USER hub
EXPOSE 8400

ENTRYPOINT ["hub"]
CMD ["run"]
