"""Analyses of trained policies: divergence metrics, hooks, patches, steering vectors."""
