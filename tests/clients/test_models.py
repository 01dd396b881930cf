"""The SDK's models match the server's OpenAPI document: same names, fields, required fields, enums."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from phota.api.app import create_app
from phota.config import Settings
from phota_client import models

REQUESTS = ["EditRequest", "GenerateRequest", "EnhanceRequest", "RemixRequest", "AddProfileRequest", "IdentityGuard"]
RESPONSES = [
    "EditResponse",
    "KnownGeneratedSubjectCounts",
    "JobHandle",
    "Job",
    "JobError",
    "CallbackAttempt",
    "WebhookSecret",
    "AddProfileResponse",
    "ProfileStatusResponse",
    "ProfileSummary",
    "ProfileIdsResponse",
    "DeleteProfileResponse",
    "RootResponse",
    "UploadResponse",
]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("openapi"), secret_key="x")  # type: ignore[arg-type]
    return dict(create_app(settings, run_workers=False).openapi()["components"]["schemas"])


def sdk_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def enum_values(annotation: Any) -> set[str] | None:
    for arg in [annotation, *typing.get_args(annotation)]:
        if typing.get_origin(arg) is typing.Literal:
            return set(typing.get_args(arg))
    return None


def server_enum(prop: dict[str, Any]) -> set[str] | None:
    for option in [prop, *prop.get("anyOf", [])]:
        if "enum" in option:
            return set(option["enum"])
        if "const" in option:
            return {option["const"]}
    return None


@pytest.mark.parametrize("name", REQUESTS + RESPONSES)
def test_model_fields_match_the_openapi_schema(schemas: dict[str, Any], name: str) -> None:
    schema = schemas[name]
    model = getattr(models, name)
    fields = sdk_fields(model)
    assert set(fields) == set(schema["properties"]), name
    for field_name, field in fields.items():
        expected = server_enum(schema["properties"][field_name])
        if expected is not None:
            assert enum_values(field.annotation) == expected, f"{name}.{field_name}"


@pytest.mark.parametrize("name", RESPONSES)
def test_response_models_require_what_the_server_always_sends(schemas: dict[str, Any], name: str) -> None:
    required = {n for n, f in sdk_fields(getattr(models, name)).items() if f.is_required()}
    assert required <= set(schemas[name].get("required", [])), name


@pytest.mark.parametrize("name", REQUESTS)
def test_request_models_require_what_the_server_requires(schemas: dict[str, Any], name: str) -> None:
    required = {n for n, f in sdk_fields(getattr(models, name)).items() if f.is_required()}
    assert required == set(schemas[name].get("required", [])), name


def test_every_sdk_model_is_compared() -> None:
    compared = set(REQUESTS + RESPONSES)
    defined = {
        n
        for n, v in vars(models).items()
        if isinstance(v, type)
        and issubclass(v, BaseModel)
        and v.__module__ == models.__name__
        and not n.startswith("_")
    }
    assert defined == compared
