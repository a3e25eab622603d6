"""The HTTP server: create_app(settings), auth, routers under /v1.

``create_app`` is imported when first asked for: ``loopwise serve``'s supervising process and the compactor
process use the server's settings, keys and jobs, never the app and its routers (seconds of imports each,
decision 0059).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwise.server.app import create_app
    from loopwise.server.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from loopwise.server.app import create_app

        return create_app
    if name == "Settings":
        from loopwise.server.settings import Settings

        return Settings
    raise AttributeError(f"module 'loopwise.server' has no attribute {name!r}")
