"""The node tests: one real Kubernetes node (control plane, kubelet, kube-proxy, containerd) in private
namespaces, the product installed with Helm and kustomize, and rollouts measured under load."""
