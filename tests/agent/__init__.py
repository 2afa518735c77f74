"""The agent protocol, the host agent, and the agent gateway."""
