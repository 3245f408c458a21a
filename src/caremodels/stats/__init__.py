"""stats (being built)."""
