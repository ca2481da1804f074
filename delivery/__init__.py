"""What turns a master into what a player or app receives (imports nothing of ours)."""
