"""haproxy-guard: a Kubernetes admission webhook and CLI that make HAProxy workloads safe by default.

One import namespace over the design card's folders (each installed under it, so nothing else on PyPI can
collide with a top-level `webhook`, `policies` or `certs`):
- `haproxy_guard.policies`: the domain (engine, rules, object model, HAProxy configuration and validator);
- `haproxy_guard.webhook`: the HTTPS admission server;
- `haproxy_guard.cli`: the command line (audit, mutate, check-config, certs, serve);
- `haproxy_guard.certs`: certificate authority, serving certificates, rotation.
"""
