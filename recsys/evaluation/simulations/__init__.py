"""Offline simulations on logged data: an A/B test of two policies, a replayed feedback loop."""
