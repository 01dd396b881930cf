"""Root key check, async job polling, webhook secret, usage and signed downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from phota import API_VERSION
from phota.api.deps import PrincipalDep, ServicesDep
from phota.api.responses import error_responses
from phota.api.schemas import IsoDateTime, Job, RootResponse, WebhookSecret, as_utc
from phota.billing.usage_view import MAX_USAGE_PAGE, parse_cursor, usage_body
from phota.imaging.encode import CONTENT_TYPES
from phota.jobs.studio_jobs import get_job
from phota.jobs.views import job_view
from phota.store.models import Account

router = APIRouter(prefix="/v1/phota")


@router.get(
    "/", response_model=RootResponse, responses=error_responses(), tags=["Studio"], operation_id="root_v1_phota__get"
)
async def root(principal: PrincipalDep) -> RootResponse:
    """Key check: 200 when the X-API-Key is valid."""
    # The principal carries the account's name: a cached key check touches no database.
    return RootResponse(status="ok", account=principal.account_name, mode=principal.mode, version=API_VERSION)  # type: ignore[arg-type]


@router.get(
    "/jobs/{job_id}",
    response_model=Job,
    responses=error_responses(404),
    tags=["Studio"],
    operation_id="get_job_v1_phota_jobs__job_id__get",
)
async def job_status(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    """An async job's status and, once it has ended, its result or error. Authoritative."""
    # Polled hardest of all: one primary-key read on the event loop, no thread hop.
    # The same JSON the callback carries, byte for byte in content (schema: Job).
    return JSONResponse(job_view(get_job(services, principal, job_id)))


@router.get(
    "/webhook-secret",
    response_model=WebhookSecret,
    responses=error_responses(),
    tags=["Studio"],
    operation_id="get_webhook_secret_v1_phota_webhook_secret_get",
)
async def webhook_secret(services: ServicesDep, principal: PrincipalDep) -> WebhookSecret:
    """The account's secret for verifying X-Phota-Signature on callbacks."""
    with services.db.reader() as conn:
        secret = conn.scalar(select(Account.webhook_secret).where(Account.id == principal.account_id))
    assert secret is not None
    return WebhookSecret(secret=secret)


@router.get("/files/{name}", include_in_schema=False)
def download(
    name: str,
    services: ServicesDep,
    expires: Annotated[str | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
) -> Response:
    """Signed output download; no API key, the signature is the credential.

    With an object store, a 302 to its short-lived URL (the bytes never pass through phota),
    unless downloads are proxied.
    """
    download = services.outputs.open(name, expires, signature)
    if download.redirect_url is not None:
        # The target expires within minutes: caches must ask phota again, not keep the redirect.
        return RedirectResponse(download.redirect_url, status_code=302, headers={"Cache-Control": "no-store"})
    return Response(
        download.data, media_type=CONTENT_TYPES[download.fmt], headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/usage", responses=error_responses(400), tags=["Studio"], operation_id="get_usage_v1_phota_usage_get")
def usage(
    services: ServicesDep,
    principal: PrincipalDep,
    since: Annotated[IsoDateTime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[IsoDateTime | None, Query(description="exclusive, ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_USAGE_PAGE, description="entries per page")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> JSONResponse:
    """phota extension: the account's credit ledger, a page at a time, and the period's totals."""
    since, until = (as_utc(since), as_utc(until))
    after = parse_cursor(cursor)
    # One thread hop (this sync route) for both statements, on one connection.
    entries, has_more, totals = services.ledger.usage(principal.account_id, since, until, after=after, limit=limit)
    body = usage_body(
        principal.account_id, entries, totals, since, until, services.charges.table.version, has_more=has_more
    )
    # Already JSON types: skip FastAPI's per-field encoding walk over up to 1000 entries.
    return JSONResponse(body)
