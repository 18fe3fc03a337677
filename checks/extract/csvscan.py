"""An independent count of a CSV file's records and fields, to hold the reader to account.

One pass over the bytes, vectorised, that follows quoting: a newline or a delimiter counts only
outside quotes (a `""` inside a quoted field leaves the parity as it was). It gives the header's
names, the number of data records, and every record whose field count differs from the
header's. The reader refuses a file whose header is broken or whose rows it read differ in
number from this count, and quarantines the ragged records by row number: every physical record
is either a row read or a named rejection.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recordcheck.checks.base.errors import InputRejected

CHUNK = 1 << 22
QUOTE, NEWLINE, COMMA, RETURN = ord('"'), ord("\n"), ord(","), ord("\r")


@dataclass
class CsvShape:
    header: list[str]
    records: int
    """Data records (the header not counted)."""
    ragged: list[tuple[int, int]] = field(default_factory=list)
    """(data row number, fields) of each record whose field count is not the header's."""
    open_quote: bool = False
    lone_returns: int = 0
    """Carriage returns outside quotes with no line feed after them: line endings no reader here
    splits on, so the rows they end would be hidden inside others."""
    """The file ends inside a quoted field: a quote somewhere is not closed."""


class CsvCounter:
    """Fed a UTF-8 CSV file's bytes chunk by chunk (a BOM allowed), it counts records and fields.

    Fed, not reading: the reader makes one pass over each file for this count, the encoding
    check and the hash together."""

    def __init__(self) -> None:
        self._parity = 0  # 1 while inside a quoted field
        self._carry = 0  # delimiters outside quotes since the last record end
        self._counts: list[np.ndarray] = []
        self._header = bytearray()
        self._header_done = False
        self._trailing = False  # bytes after the last record end
        self._first = True
        self._lone_returns = 0
        self._return_pending = False  # the last chunk ended with a return outside quotes

    def feed(self, chunk: bytes) -> None:
        if self._first and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        self._first = self._first and not chunk
        if not chunk:
            return
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = data == QUOTE
        outside: np.ndarray | bool = True
        if self._parity or quotes.any():
            inside = np.bitwise_xor.accumulate(quotes.view(np.uint8)) ^ np.uint8(self._parity)
            self._parity = int(inside[-1])
            outside = inside == 0
        ends = np.flatnonzero((data == NEWLINE) & outside)
        commas = np.flatnonzero((data == COMMA) & outside)
        if self._return_pending and data[0] != NEWLINE:
            self._lone_returns += 1
        returns = np.flatnonzero((data == RETURN) & outside)
        if returns.size:
            inner = returns[returns < len(chunk) - 1]
            self._lone_returns += int((data[inner + 1] != NEWLINE).sum())
        self._return_pending = bool(returns.size and returns[-1] == len(chunk) - 1)
        if not self._header_done:
            self._header += chunk[: ends[0] if ends.size else len(chunk)]
            self._header_done = bool(ends.size)
        if ends.size:
            before = np.searchsorted(commas, ends)
            per_record = np.diff(before, prepend=0)
            per_record[0] += self._carry
            self._counts.append(per_record + 1)
            self._carry = int(commas.size - before[-1])
            self._trailing = bool(ends[-1] < len(chunk) - 1)
        else:
            self._carry += int(commas.size)
            self._trailing = True

    def shape(self) -> CsvShape:
        fields = np.concatenate(self._counts) if self._counts else np.zeros(0, dtype=np.int64)
        if self._trailing:  # a last record without a final newline
            fields = np.concatenate((fields, [self._carry + 1]))
        header_text = bytes(self._header).decode("utf-8", errors="replace").rstrip("\r")
        try:
            header = next(csv.reader(io.StringIO(header_text)), [])
        except csv.Error:  # a return alone inside the header line: the caller refuses the file by it
            header = next(csv.reader(io.StringIO(header_text.split("\r")[0])), [])
        data_fields = fields[1:]
        ragged_rows = np.flatnonzero(data_fields != max(len(header), 1))
        return CsvShape(
            header=header,
            records=int(data_fields.size),
            ragged=[(int(i) + 1, int(data_fields[i])) for i in ragged_rows],
            open_quote=self._parity == 1,
            lone_returns=self._lone_returns + int(self._return_pending),
        )


def scan_csv(path: Path) -> CsvShape:
    """Count records and fields of a UTF-8 CSV file without parsing values."""
    counter = CsvCounter()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            counter.feed(chunk)
    return counter.shape()


@dataclass
class FileFacts:
    """What one pass over a file's bytes found: its hash, and for a CSV its record count."""

    sha256: str
    shape: CsvShape | None
    utf8_copy: Path | None
    """A UTF-8 copy of a cp1252 CSV (the reader only reads UTF-8); the caller removes it."""


def inspect_file(path: Path, fmt: str, encoding: str) -> FileFacts:
    """One pass over the file: sha256 of its bytes; for a CSV, the encoding checked (or a cp1252
    file decoded into a UTF-8 copy) and its records and fields counted. The encoding errors name
    the byte, never the text around it."""
    digest = hashlib.sha256()
    counter = CsvCounter() if fmt == "csv" else None
    decoder = codecs.getincrementaldecoder(encoding)() if counter else None
    copy: Path | None = None
    out = None
    if counter and encoding == "cp1252":
        handle, name = tempfile.mkstemp(prefix="recordcheck-cp1252-", suffix=".csv")
        os.close(handle)
        copy = Path(name)
        out = copy.open("w", encoding="utf-8", newline="")
    offset = 0
    try:
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                if counter and decoder:
                    if out is not None and offset == 0 and chunk.startswith(b"\xef\xbb\xbf"):
                        chunk = chunk[3:]
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        hint = (
                            "check the profile's encoding"
                            if encoding == "cp1252"
                            else "if the force exports Windows text, set encoding: cp1252 in the profile"
                        )
                        shown = "UTF-8" if encoding == "utf-8" else f"{encoding} text"
                        raise InputRejected(f"{path}: byte {offset + exc.start} is not valid {shown}; {hint}") from None
                    if out is not None:
                        out.write(text)
                        counter.feed(text.encode("utf-8"))
                    else:
                        counter.feed(chunk)
                offset += len(chunk)
            if decoder:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise InputRejected(f"{path}: the file ends inside a character; check the profile's encoding") from None
    except BaseException as exc:
        if out is not None:
            out.close()
        if copy is not None:
            copy.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (str(path), path):
            # the input cannot be read (permissions, a device): the input's fault, not the output's
            raise InputRejected(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
        raise
    if out is not None:
        out.close()
    return FileFacts(digest.hexdigest(), counter.shape() if counter else None, copy)
