"""Privacy audits of the generators: one-run canary audits (see canary.py)."""
