"""Candidate sources of the two-stage recommender that read the order of histories.

Each is also a model type of its own (``transitions``, ``recent_knn``, ``recent_popularity``),
so that it can be trained, evaluated and served alone.
"""
