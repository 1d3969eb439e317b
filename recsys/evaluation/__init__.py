"""Offline evaluation: splits, full-ranking metrics, statistics, reports, tuning, simulations.

This package's ``__init__`` imports nothing (``recsys.evaluation.choices`` must stay cheap to
import for the CLI's help): import from the modules themselves. Nothing here imports the
database or the service.
"""
