"""The command line: `haproxy-guard audit | mutate | check-config | certs | serve`, the manifest loader, the
report formats and the cluster audit. The server itself lives in `haproxy_guard.webhook`."""
