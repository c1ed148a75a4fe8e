"""`haproxy-guard drill`: run an HAProxy workload's own pods as real HAProxy processes on this machine, behind
a stand-in Service, under load, through a pod stop, a rollout and long-lived requests, as written and as
`mutate` makes it, and count what the clients lose.

Modules: `plan` (what the kubelet and the controllers would do, read from the workload), `adapt` (the
rendered configuration moved onto local ports and stand-in backends), `advice` (the configuration advice
applied to a copy), `backend` (the stand-in HTTP servers), `service` (the L4 hop with endpoint lag),
`load` (the load generator), `replica` (one HAProxy process and its readiness), `kubelet` (pod termination),
`scenarios`, `report`, `command` (the CLI).
"""
