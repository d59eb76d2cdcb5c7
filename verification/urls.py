from django.urls import path

from . import views
from .views import archive

app_name = "verification"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("cases.csv", views.case_list_csv, name="case_list_csv"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/status.json", views.case_status, name="case_status"),
    path("cases/<int:case_id>/comment/", views.case_comment, name="case_comment"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case_assign"),
    path("cases/<int:case_id>/finalise/", views.case_finalise, name="case_finalise"),
    path("cases/<int:case_id>/reopen/", views.case_reopen, name="case_reopen"),
    path("cases/<int:case_id>/report/", views.case_report, name="case_report"),
    path("cases/<int:case_id>/report.pdf", views.case_report_pdf, name="case_report_pdf"),
    path("cases/<int:case_id>/memo.txt", views.case_memo, name="case_memo"),
    path("memos/verify/", views.memo_verify, name="memo_verify"),
    path("memos/key.pem", views.memo_public_key, name="memo_public_key"),
    path("images/<int:image_id>/review/", views.image_review, name="image_review"),
    path("images/<int:image_id>/rerun/", views.image_rerun, name="image_rerun"),
    path("images/<int:image_id>/stability/", archive.image_stability, name="image_stability"),
    path("cases/<int:case_id>/stability/", archive.case_stability, name="case_stability"),
    path("archive-flags/<int:flag_id>/resolve/", archive.flag_resolve, name="flag_resolve"),
    path("notifications/", archive.notifications, name="notifications"),
    path("media/images/<int:image_id>/", views.image_file, name="image_file"),
    path("media/analyses/<int:analysis_id>/<str:kind>.png", views.analysis_file, name="analysis_file"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("dashboards/model/", views.dashboard_model, name="dashboard_model"),
    path("dashboards/live/", views.dashboard_live, name="dashboard_live"),
    path("dashboards/datasets/", views.dashboard_datasets, name="dashboard_datasets"),
    path("dashboards/operations/", views.dashboard_operations, name="dashboard_operations"),
    path("people/", views.people, name="people"),
    path("models/", views.models, name="models"),
    path("models/compare/", views.models_compare, name="models_compare"),
    path("models/compare/evaluate/", views.models_evaluate, name="models_evaluate"),
    path("models/datasets/", views.datasets, name="datasets"),
    path("models/datasets/<int:dataset_id>/status.json", views.dataset_status, name="dataset_status"),
    path("models/datasets/<int:dataset_id>/rescan/", views.dataset_rescan, name="dataset_rescan"),
    path("models/training/", views.training_runs, name="training_runs"),
    path("models/training/<int:run_id>/", views.training_run, name="training_run"),
    path("models/training/<int:run_id>/status.json", views.training_run_status, name="training_run_status"),
    path("models/training/<int:run_id>/cancel/", views.training_run_cancel, name="training_run_cancel"),
    path("people/<int:membership_id>/role/", views.membership_role, name="membership_role"),
]
