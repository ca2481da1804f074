"""studio package."""
