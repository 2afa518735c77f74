"""The host agent. Embedded mode runs its reconcile logic in-process for local hosts."""
