"""Evaluation: ratings, scorecards and situation analytics over its own read model of cases."""
