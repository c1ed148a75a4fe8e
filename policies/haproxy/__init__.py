"""The HAProxy configuration model: parsing, facts, sandboxed rendering and `haproxy -c`, memory estimate."""
