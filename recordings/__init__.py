"""Where audio lives: content-addressed originals, derived-media layout, atomic writes, probing."""
