"""Certificates: a CA and serving certificates for the webhook, and reloading them from disk while serving."""
