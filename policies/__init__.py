"""The domain of haproxy-guard: HAProxy workload detection, settings, policies and the engine.

Nothing in this package performs HTTP or talks to a cluster: the webhook, the CLI and the tests all call
`policies.engine` and therefore cannot disagree.
"""
