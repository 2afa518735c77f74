"""HTTP APIs: the product API (/api/v1); SOL005 and the agent API come with later issues."""
