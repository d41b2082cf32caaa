"""Tracking: owns the case, its status, timeline and clocks."""
