"""The gateway: the public API in front of the four services, and the suite's status."""
