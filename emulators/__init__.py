"""Local stand-ins for the parts of Azure and Databricks that have no local server.

Each stand-in speaks the real service's wire format, so the product reaches it through the official SDKs,
configured by environment. Product code never imports this package; tests and the launcher do.
"""
