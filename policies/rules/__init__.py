"""The policies, one module per stable policy id (`prestop-wait` -> `prestop_wait.py`). A policy imports the
model (`haproxy_guard.policies.model`) and the HAProxy package, never another policy; the registry
(`haproxy_guard.policies.registry`) orders them."""
