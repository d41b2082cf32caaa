"""Intake: petitions as submitted, identity vault, tracking numbers and query codes."""
