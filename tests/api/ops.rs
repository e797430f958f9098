//! Operations: health, readiness, metrics, error envelopes for unknown routes and bad bodies.
