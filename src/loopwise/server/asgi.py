"""The ASGI entry point uvicorn imports in each server process: settings from the environment.

It migrates the database first (decision 0015), so ``uvicorn loopwise.server.asgi:app`` works on a new
database. A start that cannot succeed (a bad setting, a database left at another revision with
``LOOPWISE_MIGRATE=0``) is one line on stderr and exit code 2, not a traceback.
"""

import sys

from loopwise.errors import LoopwiseError
from loopwise.server.app import create_app
from loopwise.server.settings import Settings

try:
    settings = Settings()
    app = create_app(settings)
except LoopwiseError as exc:
    print(f"loopwise: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
sys.setswitchinterval(settings.switch_interval)  # the server process's own, not a library's
