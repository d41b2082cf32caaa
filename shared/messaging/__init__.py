"""Reliable messaging: transactional outbox, relay, inbox-deduplicating consumer, DLQ."""
