"""Server-rendered pages, by subject. Another team's objects are a 404, never a 403."""

from .audit import audit_csv, audit_log
from .cases import (analysis_file, case_create, case_detail, case_list, case_list_csv, case_status, healthz,
                    image_file)
from .dashboards import dashboard_datasets, dashboard_live, dashboard_model, dashboard_operations
from .evaluations import models_evaluate
from .lifecycle import (dataset_rescan, dataset_status, datasets, models_compare, training_run, training_run_cancel,
                        training_run_status, training_runs)
from .memos import case_memo, memo_public_key, memo_verify
from .people import membership_role, models, people
from .reports import case_report, case_report_pdf
from .review import case_assign, case_comment, case_finalise, case_reopen, image_rerun, image_review

__all__ = [
    "analysis_file", "audit_csv", "audit_log", "case_assign", "case_comment", "case_create", "case_detail",
    "case_finalise", "case_list", "case_list_csv", "case_reopen", "case_report", "case_report_pdf",
    "case_status", "dashboard_datasets", "dashboard_live", "dashboard_model", "dashboard_operations",
    "dataset_rescan", "dataset_status",
    "datasets", "models_compare", "training_run", "training_run_cancel", "training_run_status", "training_runs",
    "models_evaluate", "case_memo", "memo_public_key", "memo_verify",
    "healthz", "image_file", "image_rerun", "image_review", "membership_role", "models", "people",
]
