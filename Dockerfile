# The back-pain companion bot. Build: docker build -t backpain-bot .
# Run:   docker run -e TELEGRAM_BOT_TOKEN=... -v backpain-data:/data backpain-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/backpain.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY jobs ./jobs
COPY messages ./messages
COPY storage ./storage
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 --user-group backpain \
    && mkdir -p /data \
    && chown backpain:backpain /data \
    && chmod 0700 /data

USER 10001:10001
VOLUME ["/data"]
# Healthy while the database exists (read-only check), passes SQLite's quick check, is migrated,
# and both ticks (dispatch, plan) finished within three of their intervals.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["backpain-bot", "health"]
ENTRYPOINT ["backpain-bot"]
CMD ["run"]
