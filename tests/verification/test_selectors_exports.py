"""The selectors package re-exports exactly what its modules declare in their own ``__all__`` (each
name written once, beside its definition), and every name the doors used before still imports."""

import importlib
import pkgutil

from verification import selectors

# What the package exported when its __all__ was written by hand (2026-11-27): none may go missing.
EXPORTED_BEFORE = {
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
}


def _modules():
    return [importlib.import_module(f"{selectors.__name__}.{info.name}")
            for info in pkgutil.iter_modules(selectors.__path__)]


def test_every_selectors_module_declares_what_it_exports_and_the_package_exports_exactly_that():
    declared: list[str] = []
    for module in _modules():
        assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ names {name}, which it lacks"
            assert getattr(selectors, name) is getattr(module, name), f"selectors.{name} is not {module.__name__}'s"
        declared += module.__all__
    assert len(declared) == len(set(declared)), "a name is exported by two selectors modules"
    assert sorted(selectors.__all__) == sorted(declared)


def test_every_name_exported_before_still_imports_from_the_package():
    assert EXPORTED_BEFORE <= set(selectors.__all__)
    namespace: dict[str, object] = {}
    exec("from verification.selectors import *", namespace)  # noqa: S102 - the star import the doors could use
    assert EXPORTED_BEFORE <= set(namespace)
