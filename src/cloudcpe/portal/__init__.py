"""The web UI: Administration Portal (/admin), Customer Portal (/portal) and the Network
Service Designer (/designer). Server-rendered (Jinja2) with small vanilla JS; it calls the
same domain services, with the same principal checks, as the API."""
