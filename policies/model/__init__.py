"""The object model every policy shares: Kubernetes objects, workloads and their HAProxy containers,
ConfigMaps and their mounts, the stop sequence, rollout helpers, quantities, images, selectors, patches,
findings and settings. No model module imports a policy."""
