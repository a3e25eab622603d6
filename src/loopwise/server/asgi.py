"""The ASGI entry point uvicorn imports in each server process: settings from the environment."""

import sys

from loopwise.server.app import create_app
from loopwise.server.settings import Settings

settings = Settings(migrate=False)
sys.setswitchinterval(settings.switch_interval)  # the server process's own, not a library's
app = create_app(settings)
