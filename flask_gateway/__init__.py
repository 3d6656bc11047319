"""The climatelake HTTP gateway (Flask app factory, one blueprint per concern).

Run: ``gunicorn 'flask_gateway:create_app()'``. Configuration comes from the environment
(:class:`climatelake.settings.Settings`; gateway options as ``CLIMATELAKE_GATEWAY_<NAME>``, e.g.
``CLIMATELAKE_GATEWAY_RATE_LIMIT_PER_MINUTE``); tests pass overrides as keyword arguments.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from climatelake.settings import Settings

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 64 * 1024,  # bytes of a request body
    "RATE_LIMIT_PER_MINUTE": 1200,  # per key and per worker process
    "RATE_LIMIT_BURST": 200,
    "WEATHER_MAX_DAYS": 366,
    "WEATHER_RESPONSE_CACHE_MB": 64,  # encoded weather answers kept per process (0: off)
}


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    app = Flask(__name__, static_folder=None)  # static/ is the console's, served by its blueprint only
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("CLIMATELAKE_GATEWAY")
    app.config.update(config)
    app.json.sort_keys = False
    app.extensions["settings"] = settings or Settings.from_env()

    from flask_gateway import (
        auth,
        console,
        employees_api,
        errors,
        health,
        lineage_api,
        manifests_api,
        openapi,
        requests_api,
        security,
        weather_api,
    )

    errors.register(app)
    security.init_app(app)
    auth.init_app(app)
    for blueprint in (
        health.bp,
        requests_api.bp,
        lineage_api.bp,
        manifests_api.bp,
        weather_api.bp,
        employees_api.bp,
        openapi.bp,
        console.bp,
    ):
        app.register_blueprint(blueprint)
    return app
