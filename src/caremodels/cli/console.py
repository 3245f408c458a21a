"""The terminal reporter used by the commands (defined in ``caremodels.progress``, below the CLI, so
that packages such as ``caremodels.demo`` can report progress without importing the CLI)."""

from caremodels.progress import Reporter

__all__ = ["Reporter"]
