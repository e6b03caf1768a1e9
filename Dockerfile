# The tiendo image: one image, three workers (`ingest`, `aggregate`, `alert`) and the CLI tools.
#   docker build -t tiendo .
#   docker run --rm -e TIENDO_BOOTSTRAP_SERVERS=kafka:9092 -p 6066:6066 tiendo ingest
# deploy/compose.yaml runs the whole stack; deploy/k8s has the Kubernetes manifests.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/tiendo
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install . \
    && rm -rf /opt/tiendo/build

# An unprivileged user owning the RocksDB state folder (a volume there inherits the ownership).
RUN groupadd --system --gid 10001 tiendo \
    && useradd --system --uid 10001 --gid tiendo --home-dir /var/lib/tiendo --create-home tiendo \
    && mkdir -p /var/lib/tiendo/state \
    && chown -R tiendo:tiendo /var/lib/tiendo
USER 10001:10001
WORKDIR /var/lib/tiendo

# Inside a container the HTTP server (/metrics, /health) must listen on every interface.
ENV TIENDO_WEB_HOST=0.0.0.0 \
    TIENDO_DATA_DIR=/var/lib/tiendo/state

# ingest, aggregate, alert: /metrics, /health (+ /totals on aggregate, /alerts on alert)
EXPOSE 6066 6067 6068
ENTRYPOINT ["tiendo"]
CMD ["--help"]
