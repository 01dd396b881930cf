"""The OpenAPI document uses the hosted API's schema names, operation ids and security scheme."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/v1/phota/openapi.json").json()
    assert doc["info"]["title"] == "Phota API" and doc["info"]["version"] == "v0.7.0"
    schemas = doc["components"]["schemas"]
    for name in [
        "EditRequest",
        "GenerateRequest",
        "EnhanceRequest",
        "RemixRequest",
        "EditResponse",
        "KnownGeneratedSubjectCounts",
        "JobHandle",
        "AddProfileRequest",
        "AddProfileResponse",
        "ProfileIdsResponse",
        "HTTPValidationError",
    ]:
        assert name in schemas, name
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    for op in [
        "edit_v1_phota_edit_post",
        "generate_v1_phota_generate_post",
        "enhance_v1_phota_enhance_post",
        "add_profile_v1_phota_profiles_add_post",
        "get_profile_ids_v1_phota_profiles_ids_get",
    ]:
        assert op in ops, op
    assert doc["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    edit = schemas["EditRequest"]["properties"]
    assert edit["base_model"]["default"] == "nb2"
    assert edit["num_output_images"]["maximum"] == 4 and edit["num_output_images"]["minimum"] == 1
    assert "async" in edit
    assert {t["name"] for t in doc["tags"]} == {"Studio", "Profiles"}


def test_docs_page(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
