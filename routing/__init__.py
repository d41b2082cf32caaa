"""Routing: decides which unit must handle each petition, and explains why."""
