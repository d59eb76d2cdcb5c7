from django.contrib import admin, messages

from . import services
from .api_admin import ReadOnlyAdmin  # importing it also registers the API's models
from .errors import VerityError
from .models import (Analysis, AuditEvent, Case, CaseImage, Comment, Dataset, Membership, ModelVersion, Review, Team,
                     TrainingRun)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    inlines = [MembershipInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "is_demo", "architecture", "input_size", "created_at"]
    readonly_fields = ["checkpoint_sha256", "metrics", "is_active", "created_at"]
    actions = ["promote"]

    @admin.action(description="Promote (activate) the selected version")
    def promote(self, request, queryset):  # type: ignore[no-untyped-def]
        # Through the service, so that promotion is audited like every other change.
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = services.model_version_activate(version=queryset.get(), actor=request.user,
                                                  note="promoted in the admin")
        self.message_user(request, f"{version} is now the active model.", messages.SUCCESS)


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    """Read-only: datasets are registered (analysed and fingerprinted) on the Datasets page or the
    API, and never change afterwards."""

    list_display = ["name", "team", "origin", "status", "path", "fingerprint", "created_at"]
    readonly_fields = ["name", "team", "origin", "status", "files_seen", "files_total", "scan_error", "scan_attempts",
                       "path", "fingerprint", "analysis", "created_by", "created_at"]
    actions = ["start_training"]

    @admin.action(description="Start training on the selected dataset (default hyperparameters)")
    def start_training(self, request, queryset):  # type: ignore[no-untyped-def]
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one dataset to train on.", messages.ERROR)
            return
        try:
            run = services.training_run_start(actor=request.user, dataset=queryset.get())
        except VerityError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Training run {run.pk} is queued.", messages.SUCCESS)


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    """Read-only: runs start and stop through services (Training runs page, API, dataset action)."""

    list_display = ["id", "dataset", "status", "epoch", "epochs", "model_version", "created_at"]
    list_filter = ["status"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Read-only: decisions are made on the case page, through services, and audited there."""

    list_display = ["created_at", "image", "reviewer", "verdict", "is_override"]
    list_filter = ["verdict", "is_override"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "case", "author"]
    readonly_fields = ["case", "parent", "author", "body", "created_at"]


class CaseImageInline(admin.TabularInline):
    model = CaseImage
    extra = 0
    readonly_fields = ["file", "sha256", "original_name", "format", "width", "height", "size_bytes"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["title", "source_url"]
    inlines = [CaseImageInline]


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "status", "label", "probability_ai", "model_version", "created_at"]
    list_filter = ["status", "label", "model_version"]
    readonly_fields = [f.name for f in Analysis._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit history is append-only, including for admins."""

    list_display = ["created_at", "action", "actor", "object_type", "object_id", "team"]
    list_filter = ["action"]
    search_fields = ["action", "object_id"]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

