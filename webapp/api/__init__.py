"""The JSON API: routers per resource, mounted under /api."""

from fastapi import APIRouter

from webapp.api import audit, deadletters, health, jobs, runs, schedule_import, schedules, triggers

router = APIRouter()
router.include_router(health.router)
router.include_router(jobs.router)
router.include_router(runs.router)
# Before schedules: /schedules/import and /export are not schedule names.
router.include_router(schedule_import.router)
router.include_router(schedules.router)
router.include_router(triggers.router)
router.include_router(deadletters.router)
router.include_router(audit.router)
