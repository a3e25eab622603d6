"""The ASGI entry point uvicorn imports: settings from the environment."""

from loopwise.server.app import create_app
from loopwise.server.settings import Settings

app = create_app(Settings(migrate=False))
