"""Pruning: unstructured global magnitude masks (unstructured.py), structured channel removal
(structured.py), and the prune stage's sweeps (run.py)."""
