"""Punctual: a Kubernetes operator for scheduled jobs that never silently skips a run.

The import package is ``punctual``; its source root is the top-level ``operator/`` folder, which is
deliberately not a package (a package named ``operator`` would shadow the standard library).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
