"""Processes that are not services of their own: the gateway and the launcher/CLI."""
