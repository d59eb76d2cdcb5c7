from django.urls import path

from . import views

app_name = "verification"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/status.json", views.case_status, name="case_status"),
    path("media/images/<int:image_id>/", views.image_file, name="image_file"),
    path("media/analyses/<int:analysis_id>/<str:kind>.png", views.analysis_file, name="analysis_file"),
]
