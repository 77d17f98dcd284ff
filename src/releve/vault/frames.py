"""A segment's compressed plaintext read frame by frame, with the format's rules (7.1).

python-zstandard's `stream_reader` ends quietly when its input ends inside a frame: a
segment cut short in its zstd layer would read as a shorter, valid-looking plaintext.
`zstd -d` reports that premature end, and so must every reader of a vault. Here each
frame is decompressed by its own decompression object, whose `eof` says whether the
frame was complete, and each frame's header is checked before its data is read: no
skippable frame, no dictionary, a window of at most `WINDOW_MAX` bytes.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

import zstandard

from .errors import VaultError

WINDOW_MAX = 1 << 27  # 128 MiB: what `zstd -d` accepts without --memory (RFC 8878 3.1.1.1.2)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SKIPPABLE_MAGIC = range(0x184D2A50, 0x184D2A60)  # the 16 magic numbers, read little-endian
HEADER_MAX = 18  # bytes of a frame header at most: enough to read its parameters
SLICE = 16 << 10  # compressed bytes read and given to a frame at a time: a zstd block
# expands at most about 40,000 times (RLE), so what one call returns stays bounded


class FrameError(VaultError):
    """Compressed plaintext that a reader must refuse; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FrameReader(io.RawIOBase):
    """The plaintext of a concatenation of zstd frames, read from `source` as a stream.
    Raises FrameError for a frame cut short, a skippable frame, a dictionary, too large a
    window or damaged data; an empty source is an empty plaintext."""

    def __init__(self, source: BinaryIO | io.RawIOBase):
        self.source = source
        self._decompressor = zstandard.ZstdDecompressor(max_window_size=WINDOW_MAX)
        self._frame: Any = None  # the current frame's decompression object, None between frames
        self._input = b""  # compressed bytes read and not yet given to a frame
        self._output = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Closes the source too, as a file's own reader would: a segment let go before
        its end must free its pipe, so that the decrypting thread stops at its next write
        instead of waiting on a full pipe for ever."""
        if not self.closed:
            self.source.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if self._ended:
                return 0
            self._step()
        count = min(len(buffer), len(self._output))
        buffer[:count] = self._output[:count]
        self._output = self._output[count:]
        return count

    def _step(self) -> None:
        """Decompress what is read next, starting a frame when the last one is complete."""
        if not self._input:
            self._input = self.source.read(SLICE) or b""
            if not self._input:
                if self._frame is not None:
                    raise FrameError("a zstd frame is cut short (the compressed plaintext "
                                     "ends inside it)")
                self._ended = True
                return
        if self._frame is None:
            self._start_frame()
        data, self._input = self._input, b""
        try:
            out = self._frame.decompress(data)
        except zstandard.ZstdError as exc:
            raise FrameError(f"compressed plaintext is damaged ({exc})") from exc
        if self._frame.eof:
            self._input = self._frame.unused_data
            self._frame = None
        self._output = memoryview(out)

    def _start_frame(self) -> None:
        """Check the next frame's header (reading more of the source if the bytes at hand
        do not hold it whole) and make its decompression object."""
        head = self._input
        while len(head) < HEADER_MAX:
            more = self.source.read(SLICE)
            if not more:
                break
            head += more
        self._input = head
        if head[:4] != ZSTD_MAGIC:
            if len(head) >= 4 and int.from_bytes(head[:4], "little") in SKIPPABLE_MAGIC:
                raise FrameError("compressed plaintext holds a skippable frame")
            if len(head) < 4 and ZSTD_MAGIC.startswith(head):
                raise FrameError("a zstd frame is cut short (the compressed plaintext ends "
                                 "inside it)")
            raise FrameError("compressed plaintext is damaged (not a zstd frame)")
        try:
            params = zstandard.get_frame_parameters(head)
        except zstandard.ZstdError as exc:
            if len(head) < HEADER_MAX:
                raise FrameError("a zstd frame is cut short (the compressed plaintext ends "
                                 "inside it)") from exc
            raise FrameError(f"compressed plaintext is damaged ({exc})") from exc
        if params.dict_id:
            raise FrameError("a zstd frame needs a dictionary")
        window = params.window_size or params.content_size
        if window > WINDOW_MAX:
            raise FrameError(f"a zstd frame needs a window of {window} bytes, more than "
                             f"{WINDOW_MAX} (128 MiB)")
        self._frame = self._decompressor.decompressobj()
