"""The embedded single-node stack: KRaft Kafka + PostgreSQL on loopback."""
