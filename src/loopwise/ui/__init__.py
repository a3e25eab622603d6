"""The reviewer workspace: server-rendered pages at /ui/ (Jinja2, autoescaped; a CSRF token on every form).

Sign in, see the models one may review, and work through the queue one task at a time: the event's
features, the model's prediction and scores, the label choices, keyboard shortcuts (digits pick a label,
Enter submits, S skips). Built on the same services and session cookies as the API (decision 0036).
"""

from loopwise.ui.pages import router

__all__ = ["router"]
