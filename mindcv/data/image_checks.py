"""Checks of encoded JPEG and PNG files without decoding them: what MindSpore's C++ decoders need to decode a file
instead of failing, or crashing the process (a segmentation fault or SIGFPE on some broken JPEG headers).

:func:`check_jpeg_header` walks a JPEG's marker segments (frame, quantization and Huffman tables, scan headers)
with libjpeg's own rules and returns the image size from the frame header; for a baseline JPEG the walk ends at
its one scan of all components, after which libjpeg reads nothing. :func:`check_png_chunks` checks a PNG's chunk
CRCs and end chunk, :func:`is_complete` the end marker of a file that may be truncated.
"""
import re
import zlib
from typing import Dict, Tuple

from ..utils.errors import DataError

__all__ = ["check_jpeg_header", "check_png_chunks", "is_complete"]


def is_complete(data: bytes, fmt: str) -> bool:
    """False for a JPEG without its end marker or a PNG without its end chunk (a truncated file)."""
    if fmt == "JPEG":
        return b"\xff\xd9" in data[-1024:]
    if fmt == "PNG":
        return b"IEND" in data[-64:]
    return True


_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended and progressive Huffman coding
# Segments libjpeg reads or skips: restart interval, arithmetic conditioning, line count, APPn, comments.
_JPEG_OTHER_SEGMENTS = frozenset({0xCC, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)})


def _valid_huffman_table(table: bytes, dc: bool) -> bool:
    """libjpeg's checks of one Huffman table (16 code-length counts, then the symbols): the codes of each
    length fit and leave the all-ones code free, at most 256 symbols, DC symbols at most 15."""
    counts, symbols = table[:16], table[16:]
    code = 0
    for length, count in enumerate(counts, start=1):
        code += count
        if code >= 1 << length:
            return False
        code <<= 1
    return len(symbols) <= 256 and not (dc and any(symbol > 15 for symbol in symbols))


class _JpegHeader:
    """What a JPEG's marker segments declare; each ``add_*`` raises :class:`DataError` on a corrupt segment."""

    def __init__(self):
        self.progressive = False
        self.width = self.height = 0
        self.components: Dict[int, int] = {}  # component id -> quantization table
        self.quant_tables: set = set()
        self.huffman_tables: set = set()  # (0 = DC / 1 = AC, id)

    def add_frame(self, marker: int, body: bytes) -> None:
        count = body[5] if len(body) > 5 else 0
        if (self.components or len(body) != 6 + 3 * count or count not in (1, 3, 4) or body[0] != 8
                or int.from_bytes(body[1:3], "big") == 0 or int.from_bytes(body[3:5], "big") == 0):
            raise DataError("the JPEG frame header is corrupt")
        for at in range(6, len(body), 3):
            sampling, table = body[at + 1], body[at + 2]
            if not (1 <= sampling >> 4 <= 4 and 1 <= sampling & 15 <= 4 and table <= 3):
                raise DataError("the JPEG frame header is corrupt")
            self.components[body[at]] = table
        if len(self.components) != count:
            raise DataError("the JPEG frame header names a component twice")
        self.progressive = marker == 0xC2
        self.height, self.width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")

    def add_tables(self, body: bytes, huffman: bool) -> None:
        pos = 0
        while pos < len(body):
            kind, table = body[pos] >> 4, body[pos] & 15
            if huffman:
                size = 17 + sum(body[pos + 1:pos + 17]) if pos + 17 <= len(body) else 0
            else:
                size = 65 + 64 * kind
            if (kind > 1 or table > 3 or size == 0 or pos + size > len(body)
                    or huffman and not _valid_huffman_table(body[pos + 1:pos + size], dc=kind == 0)):
                raise DataError(f"the JPEG {'Huffman' if huffman else 'quantization'} table segment is corrupt")
            (self.huffman_tables.add((kind, table)) if huffman else self.quant_tables.add(table))
            pos += size

    def _defined(self, kind: int, table: int) -> bool:
        # Sequential decoding falls back to the standard tables 0 and 1 (motion-JPEG frames omit them).
        return (kind, table) in self.huffman_tables or (not self.progressive and table <= 1)

    def add_scan(self, body: bytes) -> None:
        count = body[0] if body else 0
        if not self.components or not 1 <= count <= 4 or len(body) != 4 + 2 * count:
            raise DataError("the JPEG scan header is corrupt or comes before the frame header")
        start, end, high, low = body[-3], body[-2], body[-1] >> 4, body[-1] & 15
        if self.progressive and (end > 63 or low > 13 or (high and low != high - 1)
                                 or (end != 0 if start == 0 else end < start or count != 1)):
            raise DataError("the JPEG progressive scan parameters are invalid")
        if len(set(body[1:1 + 2 * count:2])) != count:
            raise DataError("the JPEG scan header names a component twice")
        uses_dc = not self.progressive or (start == 0 and high == 0)
        uses_ac = not self.progressive or start > 0
        for at in range(1, 1 + 2 * count, 2):
            component, tables = body[at], body[at + 1]
            if (component not in self.components or self.components[component] not in self.quant_tables
                    or uses_dc and not self._defined(0, tables >> 4) or uses_ac and not self._defined(1, tables & 15)):
                raise DataError("the JPEG scan refers to a component or table it does not define")


_JPEG_MARKER_IN_DATA = re.compile(b"\xff[\x01-\xcf\xd8-\xfe]")  # not stuffing, fill or a restart marker


def _skip_entropy_data(data: bytes, pos: int) -> int:
    """Position of the first marker after the entropy-coded data starting at ``pos``."""
    found = _JPEG_MARKER_IN_DATA.search(data, pos)
    return found.end() - 2 if found else len(data)


def check_png_chunks(data: bytes) -> None:
    """Check every chunk of a PNG against its CRC, up to the end chunk (libpng aborts the decode otherwise)."""
    view, pos = memoryview(data), 8
    while pos + 12 <= len(data):
        length = int.from_bytes(view[pos:pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            break
        if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
            raise DataError(f"the PNG chunk {bytes(view[pos + 4:pos + 8])!r} at byte {pos} is corrupt (CRC mismatch)")
        if view[pos + 4:pos + 8] == b"IEND":
            return
        pos = end
    raise DataError("the PNG data is truncated")


def check_jpeg_header(data: bytes) -> Tuple[int, int]:
    """Walk every marker segment of a JPEG and check what libjpeg reads besides the entropy-coded data; returns
    the image's (width, height).

    MindSpore's C++ decoder aborts the whole process (segmentation fault or SIGFPE) on some broken headers,
    e.g. a scan naming an undefined Huffman table, so a file's headers must be known good before its bytes
    reach the decoder. Damage inside the entropy-coded data is decoded as noise, as by libjpeg itself. A
    sequential scan of every component is the whole image: libjpeg reads no segment after it, so neither does
    this check (Pillow is not needed either: the frame header gives the size).
    """
    header, pos, size, scanned = _JpegHeader(), 2, len(data), False
    while True:
        if pos + 2 > size or data[pos] != 0xFF:
            raise DataError(f"the JPEG structure is corrupt (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9 and scanned:
            return header.width, header.height
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in (0xD8, 0xD9) or 0xD0 <= marker <= 0xD7 or length < 2 or pos + 2 + length > size:
            raise DataError(f"the JPEG structure is corrupt (marker 0x{marker:02x} at byte {pos})")
        body = data[pos + 4:pos + 2 + length]
        if marker in _JPEG_FRAMES:
            header.add_frame(marker, body)
        elif marker in (0xDB, 0xC4):
            header.add_tables(body, huffman=marker == 0xC4)
        elif marker == 0xDA:
            header.add_scan(body)
            if not header.progressive and body[0] == len(header.components):
                # A sequential scan of every component is the whole image: the decoder reads no marker after it.
                return header.width, header.height
            scanned = True
            pos = _skip_entropy_data(data, pos + 2 + length)
            continue
        elif marker not in _JPEG_OTHER_SEGMENTS:
            raise DataError(f"the JPEG has an unsupported marker 0x{marker:02x} at byte {pos} (corrupt, or a coding "
                            "such as arithmetic or lossless that the decoder lacks)")
        pos += 2 + length
