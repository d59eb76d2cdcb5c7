from __future__ import annotations

from typing import Any

from django import forms

from .models import Team


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """A file field that takes several files. Content checks happen in services.case_submit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True}))
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
    images = MultipleImageField(label="Images", help_text="JPEG, PNG, WebP, TIFF, BMP or GIF; up to 25 MB each.")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=True)

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = teams if teams is not None else Team.objects.none()
        self.fields["team"].queryset = teams
        if teams.count() == 1:
            self.fields["team"].initial = teams.first()
            self.fields["team"].widget = forms.HiddenInput()
