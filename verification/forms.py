from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings

from ml.formats import HUMAN_LIST

from . import hyperparameters, selectors
from .errors import VerityError
from .evidence import PROVENANCE_FILTERS
from .models import CaseStatus, Dataset, EvaluationSource, HumanVerdict, Role, Team, Verdict
from .selectors import PROCESSING_STATES, SORTS, CaseFilters


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """A file field that takes several files. Content checks happen in services.case_submit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # An empty file must not refuse the whole form: case_submit lists it among the rejected files
        # and takes the others, as the API does.
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip,application/zip",
                                                             "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class CaseForm(forms.Form):
    title = forms.CharField(max_length=200, required=False,
                            help_text="A short description, e.g. the claim or the post. Defaults to the file name.")
    source_url = forms.URLField(required=False, max_length=1000, label="Source URL", assume_scheme="https",
                                help_text="Where the image was found.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = forms.CharField(required=False, max_length=500,
                           help_text="Comma-separated, e.g. flood, elections. Used to find cases later.")
    images = MultipleImageField(label="Images", help_text=(
        f"{HUMAN_LIST}, up to {settings.VERITY_MAX_UPLOAD_BYTES / 1e6:.0f} MB each; or a .zip of such images. "
        "Select several files at once to add them all."))
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=True)

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = teams if teams is not None else Team.objects.none()
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)  # declared above; the stubs type fields as Field
        team.queryset = teams
        if teams.count() == 1:
            team.initial = teams.first()
            team.widget = forms.HiddenInput()


_ANY = [("", "Any")]


class CaseFilterForm(forms.Form):
    """The case list's search, filters and sort, read from the query string."""

    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(
        attrs={"type": "search", "placeholder": "Title, tag or source"}))
    review_state = forms.ChoiceField(required=False, label="Review state", choices=_ANY + list(CaseStatus.choices))
    processing_status = forms.ChoiceField(required=False, label="Processing status",
                                          choices=_ANY + list(PROCESSING_STATES))
    verdict = forms.ChoiceField(required=False, label="Final verdict", choices=_ANY + list(HumanVerdict.choices))
    model = forms.ChoiceField(required=False, label="Model verdict", choices=_ANY + list(Verdict.choices))
    assignee = forms.ChoiceField(required=False, choices=_ANY)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    disagreement = forms.BooleanField(required=False, label="Model and reviewers disagree")
    provenance = forms.ChoiceField(required=False, label="Provenance", choices=_ANY + [
        (key, label) for key, (label, _) in PROVENANCE_FILTERS.items()])
    seen_before = forms.BooleanField(required=False, label="Seen before (near-duplicate in the archive)")
    sort = forms.ChoiceField(required=False, choices=[(k, k.replace("_", " ").capitalize()) for k in SORTS])

    def __init__(self, data: Any = None, *args: Any, members: Any = (), **kwargs: Any) -> None:
        # ``status`` is what the list called the review state before the API's 1.1 named the case's
        # two states apart (review_state, processing_status); old links and bookmarks still work.
        if data is not None and ("status" in data or data.get("sort") == "status"):
            data = data.copy()
            if "status" in data:
                data.setdefault("review_state", data["status"])
                del data["status"]
            if data.get("sort") == "status":
                data["sort"] = "review_state"
        super().__init__(data, *args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)  # declared above; the stubs type fields as Field
        assignee.choices = _ANY + [("me", "Me"), ("none", "Unassigned")] + [
            (str(u.pk), u.get_username()) for u in members]

    def filters(self) -> CaseFilters:
        if not self.is_valid():
            return CaseFilters()
        data = self.cleaned_data
        return CaseFilters(q=data["q"], review_state=data["review_state"],
                           processing_status=data["processing_status"], verdict=data["verdict"], model=data["model"],
                           assignee=data["assignee"], date_from=data["date_from"], date_to=data["date_to"],
                           disagreement=data["disagreement"], seen_before=data["seen_before"],
                           sort=data["sort"] or "newest", provenance=data["provenance"])


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(choices=HumanVerdict.choices, widget=forms.RadioSelect)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text="Required when your verdict differs from the model's.")


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)


class FinaliseForm(forms.Form):
    verdict = forms.ChoiceField(label="Final verdict", choices=HumanVerdict.choices, widget=forms.RadioSelect)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Summary")
    confirm_unreviewed = forms.BooleanField(
        required=False, label="Finalise although some images have no review yet (recorded in the audit history)")


class ReopenForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Why reopen?")


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(required=False, choices=[("", "Nobody")])

    def __init__(self, *args: Any, members: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)  # declared above; the stubs type fields as Field
        assignee.choices = [("", "Nobody")] + [(str(u.pk), u.get_username()) for u in members]


class RerunForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=selectors.model_versions(),
                                           label="Model version", empty_label=None)


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(
        attrs={"type": "search", "placeholder": "Action, person, case title or object id"}))
    action = forms.ChoiceField(required=False, choices=_ANY)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actions: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)  # declared above; the stubs type fields as Field
        action.choices = _ANY + [(a, a) for a in actions]


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, label="First password",
                               help_text="Give it to the person; they should change it after logging in.")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)  # declared above; the stubs type fields as Field
        team.queryset = teams if teams is not None else Team.objects.none()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class _DatasetIntakeForm(forms.Form):
    """A new dataset's team: one of ``teams``, those the user administers (selectors.admin_teams; a
    superuser: any). Preselected when there is exactly one; the service refuses a missing choice
    when the user administers several, so that rule lives in one place."""

    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="Choose a team",
                                  help_text="The team whose admins see it, train on it and rescan it.")
    field_order = ["name", "path", "archive", "mix_with", "team"]

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        field.queryset = Team.objects.none() if teams is None else teams  # type: ignore[attr-defined]
        only = list(teams[:2]) if teams is not None else []
        if len(only) == 1:
            field.initial, field.empty_label = only[0], None  # type: ignore[attr-defined]


class DatasetRegisterForm(_DatasetIntakeForm):
    name = forms.CharField(max_length=120)
    path = forms.CharField(max_length=500, help_text="Absolute path on the server: a folder or a CSV manifest.")


class DatasetUploadForm(_DatasetIntakeForm):
    """Content checks (a zip, safe to unpack, within the limits) happen in services.dataset_register_archive."""

    name = forms.CharField(max_length=120)
    # Django renders help texts as HTML: the angle brackets must be entities.
    archive = forms.FileField(help_text="A zip of &lt;split&gt;/&lt;REAL|FAKE&gt;/ or &lt;REAL|FAKE&gt;/ folders, "
                                        "or of a CSV manifest with its images.",
                              widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}))


class DatasetFromReviewsForm(_DatasetIntakeForm):
    name = forms.CharField(max_length=120)
    mix_with: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, required=False, help_text="A registered dataset whose images are added (optional).")

    def __init__(self, *args: Any, datasets: Any = None, teams: Any = None, **kwargs: Any) -> None:
        """``datasets``: those the user may see (selectors.datasets_for); none when not given."""
        super().__init__(*args, teams=teams, **kwargs)
        self.fields["mix_with"].queryset = (  # type: ignore[attr-defined]
            selectors.datasets().none() if datasets is None else datasets).order_by("name")


def _hyperparameter_field(name: str) -> forms.Field:
    """A form field with the bounds, default and out-of-range message of ``hyperparameters.LIMITS``."""
    limit = hyperparameters.LIMITS[name]
    # Callable, not the union of the two classes: the stubs' IntegerField takes int bounds only.
    kind: Callable[..., forms.Field] = forms.IntegerField if limit.kind is int else forms.FloatField
    return kind(min_value=limit.low, max_value=limit.high, initial=limit.default, label=limit.label,
                error_messages={"min_value": limit.out_of_range, "max_value": limit.out_of_range})


class TrainingStartForm(forms.Form):
    """The hyperparameters' bounds, defaults and check are verification.hyperparameters' (shared with
    the API and the service, which checks them again)."""

    dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(queryset=None)
    base_model = forms.ModelChoiceField(queryset=selectors.model_versions(), required=False,
                                        help_text="Start from this version's weights and compare with it (optional; "
                                                  "without one: ImageNet weights if configured, else random).")

    def __init__(self, *args: Any, datasets: Any = None, **kwargs: Any) -> None:
        """``datasets``: those the user may see (selectors.datasets_for); none when not given, so a
        caller that forgets to scope it offers no other team's dataset. One that is not ready can be
        chosen: the service then says why it cannot be trained on yet. One field per entry of
        ``hyperparameters.LIMITS``, after the dataset and base model, in its order."""
        super().__init__(*args, **kwargs)
        self.fields.update({name: _hyperparameter_field(name) for name in hyperparameters.LIMITS})
        self.fields["dataset"].queryset = (  # type: ignore[attr-defined]
            selectors.datasets().none() if datasets is None else datasets).order_by("-created_at")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:  # the rules across fields (a crop no larger than the input), as the service applies them
            hyperparameters.resolve({k: v for k, v in cleaned.items() if k in hyperparameters.LIMITS})
        except VerityError as error:
            for name, messages in dict(error.details).items():
                if name not in self.errors:
                    self.add_error(name, messages)
        return cleaned


class EvaluationRequestForm(forms.Form):
    """Evaluate versions A and B on the same data (services.evaluation_request checks it again)."""

    a = forms.ModelChoiceField(queryset=selectors.model_versions(), widget=forms.HiddenInput)
    b = forms.ModelChoiceField(queryset=selectors.model_versions(), widget=forms.HiddenInput)
    source = forms.ChoiceField(label="Evaluate on", widget=forms.RadioSelect, initial=EvaluationSource.DATASET,
                               choices=[(EvaluationSource.DATASET, "A dataset's test split"),
                                        (EvaluationSource.REVIEWED_CASES,
                                         "The reviewed images of finalised cases (counts and metrics only)")])
    dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, required=False, help_text="For a dataset's test split.")

    def __init__(self, *args: Any, datasets: Any = None, **kwargs: Any) -> None:
        """``datasets``: those the user may see (selectors.datasets_for); none when not given, so a
        caller that forgets to scope it offers no other team's dataset."""
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = (  # type: ignore[attr-defined]
            selectors.datasets().none() if datasets is None else datasets).order_by("-created_at")
