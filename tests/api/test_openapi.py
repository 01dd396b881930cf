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


def _ref(response: dict) -> str:  # type: ignore[type-arg]
    return str(response["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[1]


def test_error_schemas_carry_the_hosted_names(client: TestClient) -> None:
    doc = client.get("/v1/phota/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for status in (400, 404, 500, 503):
        schema = schemas[f"PhotaError{status}Response"]
        assert set(schema["required"]) == {"detail", "error_type", "type", "code", "request_id"}
    paths = doc["paths"]
    edit = paths["/v1/phota/edit"]["post"]["responses"]
    assert _ref(edit["400"]) == "PhotaError400Response"
    assert _ref(edit["404"]) == "PhotaError404Response"
    assert _ref(edit["500"]) == "PhotaError500Response"
    assert _ref(edit["503"]) == "PhotaError503Response"
    assert _ref(edit["422"]) == "HTTPValidationError"


def test_every_operation_declares_what_it_can_answer(client: TestClient) -> None:
    paths = client.get("/v1/phota/openapi.json").json()["paths"]
    expected = {
        ("/v1/phota/", "get"): {"401", "403", "500"},
        ("/v1/phota/jobs/{job_id}", "get"): {"401", "403", "404", "500"},
        ("/v1/phota/webhook-secret", "get"): {"401", "403", "500"},
        ("/v1/phota/usage", "get"): {"401", "403", "422", "500"},
        ("/v1/phota/profiles/add", "post"): {"400", "401", "402", "403", "413", "422", "500"},
        ("/v1/phota/profiles/ids", "get"): {"401", "402", "403", "500"},
        ("/v1/phota/profiles/{profile_id}/status", "get"): {"401", "402", "403", "404", "500"},
        ("/v1/phota/profiles/{profile_id}/profile_picture", "get"): {"401", "403", "404", "500"},
        ("/v1/phota/profiles/{profile_id}", "delete"): {"401", "403", "404", "500"},
    }
    studio = {"202", "400", "401", "402", "403", "404", "409", "413", "422", "500", "502", "503", "504"}
    for path in ("edit", "generate", "enhance", "remix"):
        expected[(f"/v1/phota/{path}", "post")] = studio
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert statuses <= set(responses), (path, statuses - set(responses))
        for status, response in responses.items():
            if status not in ("200",):
                assert "application/json" in response["content"], (path, status)  # every error has a body schema


def test_always_sent_fields_are_required(client: TestClient) -> None:
    schemas = client.get("/v1/phota/openapi.json").json()["components"]["schemas"]
    assert {"known_subjects", "images", "download_urls"} <= set(schemas["EditResponse"]["required"])
    assert "identity_scores" not in schemas["EditResponse"]["required"]  # only when asked for
    assert "message" in schemas["ProfileStatusResponse"]["required"]
    assert "status" in schemas["DeleteProfileResponse"]["required"]
    assert "tag" in schemas["ProfileSummary"]["required"]
    assert {"job_id", "status", "created_at", "finished_at", "result", "error"} <= set(schemas["Job"]["required"])
    assert "status" in schemas["RootResponse"]["required"]


def test_extension_fields_are_typed_strictly(client: TestClient) -> None:
    doc = client.get("/v1/phota/openapi.json").json()
    edit = doc["components"]["schemas"]["EditRequest"]["properties"]
    assert edit["include_identity_scores"]["type"] == "boolean"
    seed = next(s for s in edit["seed"]["anyOf"] if s.get("type") == "integer")
    assert seed["minimum"] == 0 and seed["maximum"] == 2**32 - 1
    usage = {p["name"]: p for p in doc["paths"]["/v1/phota/usage"]["get"]["parameters"]}
    until = next(s for s in usage["until"]["schema"]["anyOf"] if s.get("type") == "string")
    assert until["format"] == "date-time"
