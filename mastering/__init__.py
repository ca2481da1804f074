"""mastering package."""
