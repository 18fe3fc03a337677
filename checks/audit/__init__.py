"""Audit work on published runs: the population file and stratified samples for reviewers, and
the estimate of the true rate from a reviewed sample.

May import: `checks.base`, `checks.extract`, `checks.validation`.
"""
