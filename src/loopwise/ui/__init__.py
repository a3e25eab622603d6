"""The reviewer workspace: server-rendered pages at /ui/ (Jinja2, autoescaped; a CSRF token on every form).

Sign in, see the models one may review, and work through the queue one task at a time: the event's
features, the model's prediction and scores, the label choices, keyboard shortcuts (digits pick a label,
Enter submits, S skips). Built on the same services and session cookies as the API (decision 0036).
A monitor's runs and each run's evidence (what an alert links to) are pages too (decision 0052).
"""

from fastapi import APIRouter

from loopwise.ui import monitoring, pages

router = APIRouter()
router.include_router(pages.router)
router.include_router(monitoring.router)

__all__ = ["router"]
