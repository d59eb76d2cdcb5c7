# One image runs the web server and the Celery workers (the command differs per service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VERITY_ENV=production VERITY_DATA_DIR=/data MEDIA_ROOT=/data/media VERITY_MODEL_DIR=/data/models
WORKDIR /app

# Unicode fonts for PDF reports in any script (Arabic, Cyrillic, CJK, Devanagari...): see verification/pdf_fonts.py.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt ./
# pdqhash (archive memory) builds from source: a compiler only for the install, then removed.
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
    && pip install -r requirements.txt \
    && apt-get purge -y --auto-remove g++ && rm -rf /var/lib/apt/lists/*

COPY . .
# collectstatic needs settings that import cleanly; these values exist only for this build step.
RUN SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 verity && mkdir -p /data && chown -R verity /data
USER verity
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
