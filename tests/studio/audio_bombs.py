"""Hostile audio for the intake tests: files whose header says more than their size suggests."""
from __future__ import annotations


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


def _utf8_number(n: int) -> bytes:
    """FLAC's frame number coding: UTF-8's scheme stretched to 36 bits."""
    if n < 0x80:
        return bytes([n])
    for length, limit in ((2, 1 << 11), (3, 1 << 16), (4, 1 << 21), (5, 1 << 26), (6, 1 << 31)):  # noqa: B007 (used after the loop)
        if n < limit:
            break
    tail = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 1)][::-1]
    head = ((0xFF << (8 - length)) & 0xFF) | (n >> (6 * (length - 1)))
    return bytes([head, *tail])


def silent_flac(path, hours: float, rate: int = 96_000, channels: int = 8) -> int:
    """A valid FLAC of `hours` of digital silence, written frame by frame (each channel a CONSTANT
    subframe, a few bytes per 32 768 samples), so an hours-long 96 kHz 8-channel file takes
    about a second and a few MB. Returns the frames per channel."""
    block = 32_768
    rate_codes = {44_100: 0b1001, 48_000: 0b1010, 96_000: 0b1011}
    n_frames = int(hours * 3600 * rate) // block
    total = n_frames * block
    streaminfo = (block.to_bytes(2, "big") * 2 + (0).to_bytes(3, "big") * 2
                  + ((rate << 44) | ((channels - 1) << 41) | (15 << 36) | total).to_bytes(8, "big")
                  + bytes(16))
    table = _crc16_table()
    subframes = bytes(3 * channels)  # CONSTANT subframe (type 0) with the value 0, 16 bits
    with open(path, "wb") as out:
        out.write(b"fLaC" + bytes([0x80, 0, 0, 34]) + streaminfo)
        fixed = bytes([0xFF, 0xF8, (0b1111 << 4) | rate_codes[rate], ((channels - 1) << 4) | (0b100 << 1)])
        for number in range(n_frames):
            header = fixed + _utf8_number(number)
            frame = header + bytes([_crc8(header)]) + subframes
            crc = 0
            for byte in frame:
                crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
            out.write(frame + crc.to_bytes(2, "big"))
    return total
