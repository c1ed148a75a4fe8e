"""The HTTPS admission server: the AdmissionReview wire format, the ASGI app, TLS serving with certificate
reloads, admission decisions over `haproxy_guard.policies.engine`, and the Kubernetes API lookups made while
serving (mounted ConfigMaps, PodDisruptionBudgets, the cluster version). Nothing here is command line."""
