"""delivery package: what turns a master into what a player or app receives.

ffmpeg commands built as data (`encoders`, the one place a command is built) and run by one
module (`ffmpeg`), the AAC rendition ladder, HLS segment timing and playlists (`hls`), the clip
video's title, captions and background (`video`), the generated cover (`covers`), the
`.audiobook` zip (`audiobook`), and the talking books: EPUB 3 with Media Overlays (`epub3`) and
DAISY 2.02 (`daisy`) from the plain values of `talking_book`. Imports nothing of ours: it knows
files and formats, not books.
"""
