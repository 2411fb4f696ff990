"""Test support: real local servers as pytest fixtures, and fakes for unit tests."""
