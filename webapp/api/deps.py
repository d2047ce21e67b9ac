"""Dependencies: the service object lives on the FastAPI app's state."""

from __future__ import annotations

from fastapi import Request

from webapp.services import JobService


def get_service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service
