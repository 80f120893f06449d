"""Test harness: real broker processes and helpers shared by integration and compat tests."""
