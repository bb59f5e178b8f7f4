"""The HTTP transport of the core: admin REST API, admin UI, operations endpoints."""
