"""The domain of haproxy-guard, with no HTTP and no cluster access.

- `engine`, `registry`, `policy`, `context`, `settings_file`: the one engine the webhook, the CLI and the
  tests call (so they cannot disagree), the ordered policies, what a policy is, what a decision may read;
- `rules/`: one module per policy id;
- `model/`: the object model the policies share;
- `haproxy/`: the HAProxy configuration model, its faithful tokenizer, rendering, the kernel sandbox and the
  validators.
"""
