# The llm-healthboard exporter (also runs `healthboard migrate` and `healthboard simulate` in docker-compose.yml).
# Slim, non-root, no build tools left in the image; healthcheck on /-/healthy.
FROM python:3.11.10-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter exporter
COPY supabase-sink/migrations supabase-sink/migrations
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11.10-slim-bookworm
LABEL org.opencontainers.image.title="llm-healthboard" \
      org.opencontainers.image.description="Synthetic monitor for LLM APIs: probes, Prometheus metrics, status poller, Postgres sink" \
      org.opencontainers.image.source="https://github.com/llm-healthboard/llm-healthboard" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /var/lib/healthboard --create-home healthboard
USER 10001:10001
WORKDIR /var/lib/healthboard
ENV PYTHONUNBUFFERED=1
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/-/healthy', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["healthboard"]
CMD ["serve", "--config", "/etc/healthboard/healthboard.yml"]
