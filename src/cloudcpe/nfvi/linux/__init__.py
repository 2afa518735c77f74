"""The Linux NFVI driver: one function = one network namespace, veth links, nftables.

- `driver`: `LinuxDriver` (registered as "linux"), the reconciliation pass
- `plan`: pure decisions (what is ours, what differs, the nftables batch)
- `kernel`: the netlink/ioctl/nft operations the pass performs
- `netns`: run work inside a named namespace on a thread; namespace lifecycle; sysctls
- `nft`: ctypes binding to libnftables' JSON interface
- `tunnels`: the tunnel part of a pass (wireguard-go processes, interfaces, configuration)
- `wireguard`: wireguard-go processes and their UAPI control sockets
- `uapi`: pure decisions about tunnels (the UAPI text, what differs)
- `script`: the same realisation as a plain ip/nft/sysctl script (benchmark baseline)
- `lab`: simulated sites, a provider network, POPs and traffic probes for the demo, tests
  and benchmarks
"""
