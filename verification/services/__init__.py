"""State changes. Views, the API, admin actions and worker tasks call these functions; each one
validates, changes rows in one transaction and writes the audit event in that same transaction.

Split by subject into modules; import from here (``from verification import services``)."""

from ._common import NotAllowed, refresh_model_verdicts, require_admin, require_lead, require_member
from .analyses import (analyses_claim, analyses_heartbeat, analyses_record, analyses_stuck, analysis_claim_batch,
                       analysis_fail, analysis_overlay, analysis_record, analysis_requeue, analysis_rerun,
                       analysis_start)
from .archive import (archive_flag_resolve, archive_on_final_verdict, archive_remember,
                      notifications_mark_read)
from .case_metadata import case_update
from .dataset_archive import dataset_register_archive
from .dataset_reviews import dataset_build_from_reviews
from .dataset_scans import (DatasetNotReady, dataset_rescan, dataset_scan_begin, dataset_scan_fail,
                            dataset_scan_finish, dataset_scan_heartbeat, dataset_scan_progress, dataset_scan_read,
                            dataset_scan_requeue, dataset_scans_stuck, progress_reporter, require_ready)
from .datasets import dataset_register
from .evaluations import (EvaluationData, evaluation_begin, evaluation_data, evaluation_fail, evaluation_finish,
                          evaluation_request, evaluation_schedule, evaluations_stuck)
from .logins import login_failure_record
from .memos import case_memo_issue
from .modelversions import (model_version_activate, model_version_install, model_version_promote,
                            model_version_register)
from .outcomes import AnalysisOutcome
from .people import member_role_change, membership_set, team_create, user_create, user_login_record
from .review import (case_assign, case_export_record, case_finalise, case_reopen, comment_add,
                     latest_model_analysis, list_export_record, review_record)
from .webhooks import (webhook_deliver, webhook_deliveries_for_analyses, webhook_delivery_for_case,
                       webhook_delivery_queue)
from .stability import (stability_begin, stability_fail, stability_finish, stability_request,
                        stability_request_case)
from .intake import (AcceptedFile, Rejection, SubmissionTooLarge, SubmissionUnsupported, Upload, intake,
                     validate_upload)
from .submission import SubmissionResult, case_submit, case_tags_set, normalise_tags
from .tokens import token_create, token_revoke, token_touch
from .training import (training_cancel_requested, training_hyperparameters, training_run_begin,
                       training_run_cancel, training_run_fail, training_run_finish, training_run_heartbeat,
                       training_run_progress, training_run_requeue, training_run_start, training_runs_stuck)

__all__ = [
    "AcceptedFile", "AnalysisOutcome", "NotAllowed", "Rejection", "SubmissionResult", "Upload",
    "analyses_claim", "analyses_heartbeat", "analyses_stuck", "analysis_claim_batch", "analysis_requeue",
    "analyses_record",
    "analysis_fail", "analysis_overlay", "analysis_record", "analysis_rerun", "analysis_start",
    "case_assign", "case_export_record", "case_memo_issue",
    "case_finalise", "case_reopen", "case_update", "case_submit", "case_tags_set", "comment_add", "intake",
    "SubmissionTooLarge", "SubmissionUnsupported",
    "latest_model_analysis", "list_export_record", "login_failure_record", "member_role_change", "membership_set",
    "model_version_activate", "model_version_install", "model_version_register",
    "normalise_tags", "refresh_model_verdicts",
    "require_admin", "require_lead", "require_member", "review_record", "team_create",
    "user_create", "user_login_record", "validate_upload",
    "dataset_build_from_reviews", "dataset_register", "dataset_register_archive",
    "DatasetNotReady", "dataset_rescan", "dataset_scan_begin", "dataset_scan_fail", "dataset_scan_finish",
    "dataset_scan_heartbeat", "dataset_scan_progress", "dataset_scan_read", "dataset_scan_requeue",
    "dataset_scans_stuck", "progress_reporter", "require_ready",
    "model_version_promote", "training_cancel_requested",
    "training_hyperparameters", "training_run_begin", "training_run_cancel", "training_run_fail",
    "training_run_finish", "training_run_heartbeat", "training_run_progress", "training_run_requeue",
    "training_run_start", "training_runs_stuck",
    "archive_flag_resolve", "archive_on_final_verdict", "archive_remember", "notifications_mark_read",
    "token_create", "token_revoke", "token_touch",
    "webhook_deliver", "webhook_deliveries_for_analyses", "webhook_delivery_for_case", "webhook_delivery_queue",
    "stability_request", "stability_request_case", "stability_begin", "stability_finish", "stability_fail",
    "EvaluationData", "evaluation_begin", "evaluation_data", "evaluation_fail", "evaluation_finish",
    "evaluation_request", "evaluation_schedule", "evaluations_stuck",
]
