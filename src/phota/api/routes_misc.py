"""Root key check, async job polling, webhook secret, usage and signed downloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from phota import API_VERSION
from phota.api.deps import PrincipalDep, ServicesDep
from phota.api.schemas import Job, RootResponse, WebhookSecret
from phota.billing.usage_view import MAX_USAGE_PAGE, parse_cursor, usage_body
from phota.imaging.encode import CONTENT_TYPES
from phota.jobs.studio_jobs import get_job
from phota.jobs.views import job_view
from phota.store.models import Account

router = APIRouter(prefix="/v1/phota")


@router.get("/", response_model=RootResponse, tags=["Studio"], operation_id="root_v1_phota__get")
async def root(principal: PrincipalDep) -> RootResponse:
    """Key check: 200 when the X-API-Key is valid."""
    # The principal carries the account's name: a cached key check touches no database.
    return RootResponse(account=principal.account_name, mode=principal.mode, version=API_VERSION)  # type: ignore[arg-type]


@router.get("/jobs/{job_id}", response_model=Job, tags=["Studio"], operation_id="get_job_v1_phota_jobs__job_id__get")
async def job_status(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    """An async job's status and, once it has ended, its result or error. Authoritative."""
    # Polled hardest of all: one primary-key read on the event loop, no thread hop.
    # The same JSON the callback carries, byte for byte in content (schema: Job).
    return JSONResponse(job_view(get_job(services, principal, job_id)))


@router.get(
    "/webhook-secret",
    response_model=WebhookSecret,
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
    """Signed output download; no API key, the signature is the credential."""
    data, fmt = services.outputs.open(name, expires, signature)
    return Response(data, media_type=CONTENT_TYPES[fmt], headers={"Cache-Control": "private, max-age=86400"})


@router.get("/usage", tags=["Studio"], operation_id="get_usage_v1_phota_usage_get")
def usage(
    services: ServicesDep,
    principal: PrincipalDep,
    since: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_USAGE_PAGE, description="entries per page")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> JSONResponse:
    """phota extension: the account's credit ledger, a page at a time, and the period's totals."""
    since, until = (_utc(since), _utc(until))
    after = parse_cursor(cursor)
    entries, has_more = services.ledger.page(principal.account_id, since, until, after=after, limit=limit)
    totals = services.ledger.totals(principal.account_id, since, until)
    body = usage_body(
        principal.account_id, entries, totals, since, until, services.charges.table.version, has_more=has_more
    )
    # Already JSON types: skip FastAPI's per-field encoding walk over up to 1000 entries.
    return JSONResponse(body)


def _utc(when: datetime | None) -> datetime | None:
    """Naive times in the query are taken as UTC."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when
