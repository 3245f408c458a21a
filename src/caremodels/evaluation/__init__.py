"""evaluation (being built)."""
