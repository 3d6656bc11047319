"""The climatelake HTTP gateway (Flask app factory, one blueprint per concern).

Run: ``gunicorn 'flask_gateway:create_app()'``. Configuration comes from the environment
(:class:`climatelake.settings.Settings` plus ``CLIMATELAKE_API_KEY_SHA256``); tests pass overrides.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from climatelake.settings import Settings


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env("CLIMATELAKE_GATEWAY")
    app.config.update(config)
    app.config.setdefault("MAX_CONTENT_LENGTH", 64 * 1024)
    app.extensions["settings"] = settings or Settings.from_env()

    from flask_gateway import auth, errors, health, requests_api

    errors.register(app)
    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(requests_api.bp)
    return app
