"""The rollout controller: a ConfigMap change rolls the HAProxy workloads that mount it.

The admission webhook sets `haproxy-guard.io/config-hash` when a *workload* is written; a change of the
ConfigMap alone writes no workload. This controller closes that loop, in the webhook's Deployment (one active
replica holding a Lease): it watches the three workload kinds and the ConfigMaps, and when a mounted HAProxy
ConfigMap's content changes and the webhook would admit it, it patches the workload's pod-template hash (a
rolling update under the settings the webhook enforces) and records an Event saying why.

- `decide`: what to do with one workload, from the API server's state (pure apart from the reads it is given);
- `queue`: a bounded, deduplicating, rate-limited work queue with backoff per key;
- `index`: which workloads mount which ConfigMaps;
- `controller`: the watches, the Lease, the worker, patches and Events.
"""
