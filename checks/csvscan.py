"""An independent count of a CSV file's records and fields, to hold the reader to account.

One pass over the bytes, vectorised, that follows quoting: a newline or a delimiter counts only
outside quotes (a `""` inside a quoted field leaves the parity as it was). It gives the header's
names, the number of data records, and every record whose field count differs from the
header's. The reader refuses a file whose header is broken or whose rows it read differ in
number from this count, and quarantines the ragged records by row number: every physical record
is either a row read or a named rejection.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK = 1 << 22
QUOTE, NEWLINE, COMMA = ord('"'), ord("\n"), ord(",")


@dataclass
class CsvShape:
    header: list[str]
    records: int
    """Data records (the header not counted)."""
    ragged: list[tuple[int, int]] = field(default_factory=list)
    """(data row number, fields) of each record whose field count is not the header's."""
    open_quote: bool = False
    """The file ends inside a quoted field: a quote somewhere is not closed."""


def scan_csv(path: Path) -> CsvShape:
    """Count records and fields of a UTF-8 CSV file (a BOM allowed) without parsing values."""
    parity = 0  # 1 while inside a quoted field
    carry = 0  # delimiters outside quotes since the last record end
    counts: list[np.ndarray] = []
    header_bytes = bytearray()
    header_done = False
    trailing = False  # bytes after the last record end
    with path.open("rb") as handle:
        first = True
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            first = False
            if not chunk:
                continue
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = data == QUOTE
            if parity == 0 and not quotes.any():
                outside: np.ndarray | bool = True
            else:
                inside = np.bitwise_xor.accumulate(quotes.view(np.uint8)) ^ np.uint8(parity)
                parity = int(inside[-1])
                outside = inside == 0
            ends = np.flatnonzero((data == NEWLINE) & outside)
            commas = np.flatnonzero((data == COMMA) & outside)
            if not header_done:
                header_bytes += chunk[: ends[0] if ends.size else len(chunk)]
                header_done = bool(ends.size)
            if ends.size:
                before = np.searchsorted(commas, ends)
                per_record = np.diff(before, prepend=0)
                per_record[0] += carry
                counts.append(per_record + 1)
                carry = int(commas.size - before[-1])
                trailing = bool(ends[-1] < len(chunk) - 1)
            else:
                carry += int(commas.size)
                trailing = True
    fields = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    if trailing:  # a last record without a final newline
        fields = np.concatenate((fields, [carry + 1]))
    header_text = bytes(header_bytes).decode("utf-8", errors="replace").rstrip("\r")
    header = next(csv.reader(io.StringIO(header_text)), [])
    data_fields = fields[1:]
    ragged_rows = np.flatnonzero(data_fields != max(len(header), 1))
    return CsvShape(
        header=header,
        records=int(data_fields.size),
        ragged=[(int(i) + 1, int(data_fields[i])) for i in ragged_rows],
        open_quote=parity == 1,
    )
