"""localstripe (an independent fake of Stripe's API, from PyPI) on loopback only, from scratch.

Run: .venv/bin/python tests/peers/localstripe_server.py PORT
(its own command listens on every interface and reloads its last state from /tmp)."""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe.server import app

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
