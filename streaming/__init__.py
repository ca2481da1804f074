"""Delivery: who may listen, HLS playlists and segments, media tokens, progress, listening statistics."""
