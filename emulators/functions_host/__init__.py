"""Azure Functions host stand-in for the Python v2 programming model (Core Tools cannot install here).

It imports the app's real ``function_app.py``, indexes its functions the way the Python worker does
(``FunctionApp.get_functions()``, once), and serves the host's endpoints:

- ``POST /runtime/webhooks/EventGrid?functionName=<name>`` — Event Grid webhook delivery
  (``aeg-event-type: Notification``; ``SubscriptionValidation`` answered with ``validationResponse``);
  each event becomes a ``func.EventGridEvent`` through azure.functions' own converter. Any exception
  answers 500, so Event Grid retries.
- ``/api/<route>`` — HTTP triggers, as ``func.HttpRequest``; ``authLevel`` function/admin need the key
  (``code`` query parameter or ``x-functions-key`` header).
- ``GET /admin/host/status`` — ``{"state": "Running"}`` once the app is indexed.

LIMITATIONS (walking skeleton): only eventGridTrigger and httpTrigger; no output bindings, blob, queue
or timer triggers, no ``functionTimeout``. Settings come from ``local.settings.json`` ``Values``.
"""
