"""The HTTP server: create_app(settings), auth, routers under /v1."""

from loopwise.server.app import create_app
from loopwise.server.settings import Settings

__all__ = ["Settings", "create_app"]
