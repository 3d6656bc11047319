"""The Azure Function app (Python v2 programming model). Thin on purpose: each function is a blueprint in
``functions/``; app settings come from the environment (``local.settings.json`` locally)."""

import azure.functions as func

from functions.job_events import bp as job_events
from functions.manifest_created import bp as manifest_created
from functions.recovery import bp as recovery

app = func.FunctionApp()
app.register_functions(manifest_created)
app.register_functions(job_events)
app.register_functions(recovery)
