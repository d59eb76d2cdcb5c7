#!/bin/sh
# Entry point of the Verity image: `web`, `worker-inference`, `worker-training`, or any command.
set -e
case "$1" in
  web)
    python manage.py migrate --noinput
    python manage.py ensure_admin
    python manage.py ensure_model
    exec gunicorn portal.wsgi:application --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-3}" \
      --timeout 120 --access-logfile -
    ;;
  worker-inference)
    # Processes and torch threads each: one per core on a CPU, one process on a GPU (worker/layout.py);
    # WORKER_CONCURRENCY and VERITY_TORCH_THREADS override.
    set -- $(python -m worker.layout)
    export VERITY_TORCH_THREADS="$2"
    exec celery -A portal worker -Q inference --concurrency "$1" \
      --hostname "inference@%h" --loglevel INFO
    ;;
  worker-training)
    exec celery -A portal worker -Q training --concurrency 1 --hostname "training@%h" --loglevel INFO
    ;;
  beat)
    exec celery -A portal beat --schedule /data/celerybeat-schedule --loglevel INFO
    ;;
  *)
    exec "$@"
    ;;
esac
