"""Thin adapters over `policies.engine`: AdmissionReview wire format, the FastAPI app, TLS serving, the CLI."""
