"""Serving HLS: playlist URIs rewritten on the way out (e.g. to append a signed `?t=<token>`).

The playlists themselves are written by the package stage (`studio.package` with `mastering.hls`),
with every URI relative to the playlist, so `/books/<id>/hls/master.m3u8` and
`/books/<id>/hls/<rendition>/<file>` can be served straight from the book's `hls/` folder.
"""
from __future__ import annotations

import re
from typing import Callable

_URI_ATTR = re.compile(r'URI="([^"]*)"')


def rewrite_uris(playlist_text: str, fn: Callable[[str], str]) -> str:
    """Map every URI line and every `URI="..."` attribute (EXT-X-MAP, EXT-X-MEDIA, ...) through `fn`.

    Tags, comments and blank lines are kept as they are; line endings are normalised to LF.
    """
    out = []
    for line in playlist_text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(fn(stripped))
        elif stripped.startswith("#") and 'URI="' in stripped:
            out.append(_URI_ATTR.sub(lambda m: f'URI="{fn(m.group(1))}"', stripped))
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if playlist_text.endswith(("\n", "\r")) else "")


def add_query(uri: str, query: str) -> str:
    """`uri` with `query` (e.g. "t=abc") appended, keeping any query it already has."""
    if not query:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
