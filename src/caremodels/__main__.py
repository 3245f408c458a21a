"""``python -m caremodels`` runs the command line."""

from caremodels.cli import entry_point

entry_point()
