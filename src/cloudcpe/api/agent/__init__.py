"""The agent API under /agent/v1: used only by host agents, with their own credentials."""
