"""The training form, the API and the service read one table of hyperparameter limits
(verification.hyperparameters): each refuses the same out-of-range values with the same message,
and accepts the same edges."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from verification import hyperparameters, selectors, services
from verification.errors import VerityError
from verification.forms import TrainingStartForm
from verification.models import Dataset, ScanStatus, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def _below(limit: hyperparameters.Limit) -> int | float:
    return limit.low - 1 if limit.kind is int else limit.low / 10


def _above(limit: hyperparameters.Limit) -> int | float:
    return limit.high + 1 if limit.kind is int else limit.high * 2


OUT_OF_RANGE = [(name, f(limit)) for name, limit in hyperparameters.LIMITS.items() for f in (_below, _above)]
EDGES = [(name, getattr(limit, edge)) for name, limit in hyperparameters.LIMITS.items() for edge in ("low", "high")]


@pytest.fixture
def admin(crew) -> Any:  # type: ignore[no-untyped-def]
    return crew["admin"]


@pytest.fixture
def dataset(db) -> Dataset:  # type: ignore[no-untyped-def]
    return Dataset.objects.create(name="demo", path="/data/demo", fingerprint="f" * 64, status=ScanStatus.READY)


def _values(name: str, value: Any) -> dict[str, Any]:
    """Defaults for every field, ``value`` for ``name``; a large crop comes with an input as large."""
    values = {k: limit.default for k, limit in hyperparameters.LIMITS.items()}
    values[name] = value
    if name == "train_crop" and value > values["input_size"]:
        values["input_size"] = min(value, hyperparameters.LIMITS["input_size"].high)
    if name == "input_size" and value < values["train_crop"]:
        values["train_crop"] = max(value, hyperparameters.LIMITS["train_crop"].low)
    return values


def _form(admin: Any, data: dict[str, Any] | None = None) -> TrainingStartForm:
    """The training form as the page builds it: offering the datasets ``admin`` may see."""
    return TrainingStartForm(data, datasets=selectors.datasets_for(admin))


def _api_post(admin: Any, dataset: Dataset, values: dict[str, Any]) -> Any:
    client = APIClient()
    secret = services.token_create(user=admin, name="t", scopes=("read", "submit")).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.post("/api/v1/training-runs/", {"dataset": dataset.pk, "hyperparameters": values}, format="json")


@pytest.mark.parametrize("name,value", OUT_OF_RANGE)
def test_every_door_refuses_an_out_of_range_value_with_the_same_message(admin, dataset, sent_runs, name, value):
    expected = [hyperparameters.LIMITS[name].out_of_range]
    values = _values(name, value)

    form = _form(admin, {"dataset": dataset.pk, **values})
    assert not form.is_valid()
    assert form.errors[name] == expected

    response = _api_post(admin, dataset, values)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["hyperparameters"][name] == expected

    with pytest.raises(VerityError) as refused:
        services.training_run_start(actor=admin, dataset=dataset, hyperparameters=values)
    assert refused.value.details[name] == expected
    assert not TrainingRun.objects.exists() and sent_runs == []


@pytest.mark.parametrize("name,value", EDGES)
def test_every_door_accepts_the_edges(admin, dataset, sent_runs, name, value):
    values = _values(name, value)
    assert _form(admin, {"dataset": dataset.pk, **values}).is_valid()
    assert _api_post(admin, dataset, values).status_code == 201
    run = services.training_run_start(actor=admin, dataset=dataset, hyperparameters=values)
    assert run.hyperparameters[name] == value
    assert TrainingRun.objects.count() == 2


def test_the_form_applies_the_rule_across_fields_as_the_service_does(admin, dataset):
    values = _values("input_size", 64) | {"train_crop": 128}
    form = _form(admin, {"dataset": dataset.pk, **values})
    assert not form.is_valid()
    with pytest.raises(VerityError) as refused:
        hyperparameters.resolve(values)
    assert form.errors["train_crop"] == refused.value.details["train_crop"]


def test_a_missing_value_takes_mls_default(crew):
    from ml.config import PreprocessConfig, TrainConfig

    resolved = hyperparameters.resolve({})
    assert resolved["epochs"] == TrainConfig().epochs and resolved["lr"] == TrainConfig().lr
    assert resolved["input_size"] == PreprocessConfig().input_size



def test_the_form_and_the_serializer_have_one_field_per_limit_with_its_bounds(admin):
    from rest_framework import serializers

    from verification.api.serializers import HyperparametersSerializer

    form_fields = _form(admin).fields
    api_fields = HyperparametersSerializer().fields
    assert [name for name in form_fields if name in hyperparameters.LIMITS] == list(hyperparameters.LIMITS)
    assert set(api_fields) == set(hyperparameters.LIMITS)
    for name, limit in hyperparameters.LIMITS.items():
        form_field, api_field = form_fields[name], api_fields[name]
        assert (form_field.min_value, form_field.max_value) == (limit.low, limit.high)  # type: ignore[attr-defined]
        assert (api_field.min_value, api_field.max_value) == (limit.low, limit.high)  # type: ignore[attr-defined]
        assert form_field.initial == limit.default and form_field.label == limit.label
        assert api_field.help_text == limit.help_text and not api_field.required
        integral = limit.kind is int
        assert isinstance(api_field, serializers.IntegerField if integral else serializers.FloatField)
        assert form_field.__class__.__name__ == ("IntegerField" if integral else "FloatField")
