"""The host agent, and the orchestrator's side of the agent protocol.

On an NFVI host (the `cloudcpe agent` process; imports nothing of the orchestrator):
- `runner`: activate, watch, reconcile, report, run autonomously
- `client`: the HTTPS client of /agent/v1; `state`: the state directory
- `protocol`: the messages of /agent/v1 (shared with the orchestrator)

In the orchestrator:
- `controller`: activation, desired state, reports (called by the /agent/v1 routes)
- `board`: long-poll waiters of one API process, and the poller that wakes them
- `gateway`: how an LCM step reaches agent-managed hosts (waits for their confirmation),
  and the gateway that picks embedded or agent per host
- `embedded`: embedded hosts, realised in-process through the NFVI driver
"""
