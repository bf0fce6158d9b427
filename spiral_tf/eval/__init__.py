"""Evaluation: baselines and metrics for trained agents."""
