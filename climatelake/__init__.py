"""climatelake: code shared by the gateway, the functions and the tools.

Everything here talks to Azure and Databricks only through their official SDKs, configured by
environment (see :mod:`climatelake.settings`), so the same code runs against the local stand-ins and the
cloud.
"""

__version__ = "0.1.0"
