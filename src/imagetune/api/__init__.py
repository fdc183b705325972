"""The HTTP API: routes, dependencies and error handlers."""
