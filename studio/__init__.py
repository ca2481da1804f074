"""Recording sessions, takes, chapter marking, and the production pipeline from takes to a book."""
