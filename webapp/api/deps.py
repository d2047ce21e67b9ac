"""Dependencies: the service object lives on the FastAPI app's state."""

from __future__ import annotations

from fastapi import Request

from jobs.services.jobs import JobService


async def get_service(request: Request) -> JobService:
    # async: a plain def dependency would cost a threadpool hop on every request.
    service: JobService = request.app.state.service
    return service
