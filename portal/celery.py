"""The Celery application object. Configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# filesystem:// (the embedded broker) is kombu's transport with atomic message writes; see the module.
TRANSPORT_ALIASES["filesystem"] = "portal.broker_filesystem:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("verity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["worker"], related_name="tasks")
