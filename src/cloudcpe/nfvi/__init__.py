"""The NFVI boundary: the desired state of one host, the driver interface, and drivers."""
