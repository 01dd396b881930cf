"""Request dependencies: the services container and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from phota.errors import InvalidApiKey, MissingApiKey
from phota.services import Services
from phota.store.keys import Principal

# auto_error=False: missing and invalid keys are told apart below, with the documented bodies.
api_key_header = APIKeyHeader(name="X-API-Key", scheme_name="APIKeyHeader", auto_error=False)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a sync dependency on the thread pool, a hop that costs more than the work.
    services: Services = request.app.state.services
    return services


async def get_principal(request: Request, api_key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    # A cache hit, or one indexed lookup (~0.1 ms): done on the event loop, as a thread hop per
    # request costs more than the query and 40 threads fighting for the GIL cost more still.
    # The services are read here rather than through get_services: each dependency FastAPI
    # solves costs about as much as the cached key check itself.
    services: Services = request.app.state.services
    if not api_key:
        exc = MissingApiKey()
        exc.status_code = services.settings.missing_key_status
        raise exc
    principal = services.keys.authenticate(api_key)
    if principal is None:
        raise InvalidApiKey()
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def public_base_url(request: Request, services: Services) -> str:
    configured = services.settings.public_base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")
