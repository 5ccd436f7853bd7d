"""Transparent deployment: firewall rule builders (nftables, iptables), the original
destination of redirected connections, transparent sockets, isolated decoy hosts and the
kernel copy of the blacklist.  Kernel-specific code lives here and nowhere else."""
