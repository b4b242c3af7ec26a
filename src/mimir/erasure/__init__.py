"""Erasure: forgetting an artifact, a version or a source (issue 16), and the audit log."""
