"""Test helpers shared by several suites (real services started on loopback ports)."""
