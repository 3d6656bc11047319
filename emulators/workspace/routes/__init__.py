"""HTTP routes of the workspace stand-in: parse the request, call the models, shape the answer.

One module per API family; each exposes a Flask blueprint. Errors are raised as
:class:`~emulators.workspace.errors.ApiError` and turned into Databricks' error body in ``server.py``.
"""

from emulators.workspace.routes.delta_sharing import delta_sharing_api
from emulators.workspace.routes.jobs import jobs_api
from emulators.workspace.routes.lineage import lineage_api
from emulators.workspace.routes.local import local_api
from emulators.workspace.routes.metastores import metastores_api
from emulators.workspace.routes.notification_destinations import notification_destinations_api
from emulators.workspace.routes.permissions import permissions_api
from emulators.workspace.routes.scim import scim_api, tokens_api
from emulators.workspace.routes.secrets import secrets_api
from emulators.workspace.routes.sharing import sharing_api
from emulators.workspace.routes.sql import sql_api
from emulators.workspace.routes.unity_catalog import uc, uc_credentials_v20
from emulators.workspace.routes.unity_catalog_external import uc_external
from emulators.workspace.routes.workspace_files import workspace_files_api

BLUEPRINTS = (
    uc,
    uc_credentials_v20,
    uc_external,
    metastores_api,
    notification_destinations_api,
    workspace_files_api,
    permissions_api,
    scim_api,
    tokens_api,
    jobs_api,
    sql_api,
    secrets_api,
    lineage_api,
    local_api,
    sharing_api,
    delta_sharing_api,
)

__all__ = ["BLUEPRINTS"]
