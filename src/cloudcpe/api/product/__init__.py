"""The product API under /api/v1."""
