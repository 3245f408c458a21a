"""caremodels: run, measure and spread new models of integrated health and social care."""

__version__ = "0.1.0"
__all__ = ["__version__"]
