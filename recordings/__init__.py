"""recordings package."""
