"""The transactional outbox: events written with the change, delivered at least once (DESIGN decision 4)."""
