"""reference (being built)."""
