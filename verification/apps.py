from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "verification"
    verbose_name = "Verification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from . import login_limits, services

        def _record_login(sender, request, user, **kwargs):  # type: ignore[no-untyped-def]
            services.user_login_record(user=user)

        # weak=False: the receiver is a local function and must outlive this method.
        user_logged_in.connect(_record_login, weak=False, dispatch_uid="verity.audit.login")
        # Every login door (portal, admin) counts failures against one limit and audits them.
        user_logged_in.connect(login_limits.on_logged_in, dispatch_uid="verity.login_limits.success")
        user_login_failed.connect(login_limits.on_login_failed, dispatch_uid="verity.login_limits.failure")
