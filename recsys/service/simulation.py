"""What ``recsys simulate`` runs: the offline A/B test and the feedback-loop simulation."""

from __future__ import annotations

from recsys.evaluation.simulations.ab import ABTest, simulate_ab, write_ab
from recsys.evaluation.simulations.feedback_loop import FeedbackLoop, simulate_feedback_loop
from recsys.evaluation.simulations.feedback_loop_files import write_feedback_loop
from recsys.evaluation.statistics import Estimate

__all__ = [
    "ABTest",
    "Estimate",
    "FeedbackLoop",
    "simulate_ab",
    "simulate_feedback_loop",
    "write_ab",
    "write_feedback_loop",
]
