"""cloudcpe: an open-source Cloud CPE / distributed-cloud orchestrator (ETSI NFV MANO style)."""

__version__ = "0.1.0"
