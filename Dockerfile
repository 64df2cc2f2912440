# kiro-proxy: OpenAI- and Anthropic-compatible gateway for Kiro accounts.
# Build: docker build -t kiro-proxy .   Run: see docker-compose.yml.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kiro_proxy ./kiro_proxy
# A virtualenv copied whole into the runtime stage: no compilers or caches in the final image.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONFIG_PATH=/app/data/config.json \
    PORT=8080
# A fixed non-root uid so that a bind-mounted data folder can be chowned to it (10001:10001).
RUN groupadd --system --gid 10001 kiro \
    && useradd --system --uid 10001 --gid kiro --home-dir /app --no-create-home kiro \
    && mkdir -p /app/data \
    && chown -R kiro:kiro /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# config.json (hashed admin password, settings), the SQLite database and the secret key live here.
VOLUME ["/app/data"]
EXPOSE 8080
# The slim image has no curl: ask /health with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# SIGTERM drains in-flight streams for SHUTDOWN_GRACE_SECONDS (default 30 s) before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kiro-proxy", "serve", "--host", "0.0.0.0"]
