"""Reads. Every query a user can reach is scoped, in one place (.scope), to the user's teams; the
modules here are split by subject and this package re-exports what the doors (pages, API, services,
tasks) use, so they import ``selectors`` and nothing deeper."""

from .api_lists import (api_analyses, api_case_details, api_cases, api_filter_cases, api_images, api_reviews,
                        archive_prefetch)
from .archive import (CaseMemory, ImageMemory, case_memory, flag_for, image_for, latest_stability, matches_for,
                      notifications_for, seen_before, stability_checks_for, unread_notifications)
from .audit import SHARED_AUDIT_SUBJECTS, audit_actions, audit_log
from .cases import (SORTS, CaseFilters, case_audit, case_comment, case_detail, case_evidence_lines, case_list,
                    disagreeing, next_unreviewed_image)
from .lifecycle import (active_model, datasets, datasets_for, datasets_on_dashboard, evaluations, evaluations_for,
                        evaluations_on_shared_data, image_bytes, latest_reevaluation, model_versions,
                        reviewed_image_labels, reviewed_images, training_runs, training_runs_for)
from .metrics import (LiveReport, ModelReport, OperationsReport, api_metrics, live_report, model_report,
                      operations_report, percentile)
from .metrics_provenance import ProvenanceReport, provenance_report
from .processing import PROCESSING_STATES, processing_status, with_processing_status
from .roles import (account, admin_teams, is_admin, is_lead_of, lead_teams, leads_a_team, memberships_for_admin,
                    role_in, team_members)
from .scope import (User, analyses_for, analyses_of_case, cases_for, count_of, default_team_for, images_for,
                    images_of_case, user_teams)
from .tokens import tokens_with_deliveries

__all__ = [
    "CaseFilters", "CaseMemory", "ImageMemory", "LiveReport", "ModelReport", "OperationsReport", "PROCESSING_STATES",
    "ProvenanceReport", "SHARED_AUDIT_SUBJECTS", "SORTS", "User", "active_model", "admin_teams", "analyses_for",
    "analyses_of_case", "api_analyses", "api_case_details", "api_cases", "api_filter_cases", "api_images",
    "api_metrics", "api_reviews", "archive_prefetch", "audit_actions", "audit_log", "case_audit", "case_detail",
    "case_evidence_lines", "case_list", "case_memory", "cases_for", "count_of", "datasets", "datasets_for",
    "datasets_on_dashboard", "default_team_for", "disagreeing", "evaluations", "evaluations_on_shared_data",
    "flag_for", "image_bytes", "image_for", "images_for", "images_of_case", "is_admin", "is_lead_of",
    "latest_reevaluation", "latest_stability", "lead_teams", "leads_a_team", "live_report", "matches_for",
    "memberships_for_admin", "model_report", "model_versions", "notifications_for", "operations_report", "percentile",
    "processing_status", "provenance_report", "reviewed_image_labels", "reviewed_images", "role_in", "seen_before",
    "stability_checks_for", "team_members", "training_runs", "unread_notifications", "user_teams",
    "with_processing_status",
    "account", "case_comment", "evaluations_for", "next_unreviewed_image", "tokens_with_deliveries",
    "training_runs_for",
]
