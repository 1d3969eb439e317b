"""What ``recsys simulate`` runs: the offline A/B test and the feedback-loop simulation."""

from __future__ import annotations

from recsys.evaluation.metrics import Estimate
from recsys.evaluation.simulate import (
    ABTest,
    FeedbackLoop,
    simulate_ab,
    simulate_feedback_loop,
    write_ab,
    write_feedback_loop,
)

__all__ = [
    "ABTest",
    "Estimate",
    "FeedbackLoop",
    "simulate_ab",
    "simulate_feedback_loop",
    "write_ab",
    "write_feedback_loop",
]
