"""Read an ONNX file's metadata_props without building an inference session.

An ONNX file is a protobuf `ModelProto`; its metadata_props are field 14, a repeated message of
(key = 1, value = 2) strings. Walking the top level of the message and skipping every other field
costs a few milliseconds even for a large model, tells a corrupt or foreign file apart before
ONNX Runtime is involved, and needs neither the `onnx` package nor a session.
"""

from __future__ import annotations

from pathlib import Path

_METADATA_PROPS = 14
_MAX_BYTES = 2 << 30  # protobuf's own limit for a single message


class OnnxParseError(ValueError):
    pass


def read_metadata(path: Path) -> dict[str, str]:
    data = Path(path).read_bytes()
    if not data:
        raise OnnxParseError("file is empty")
    if len(data) > _MAX_BYTES:
        raise OnnxParseError("file is larger than an ONNX model can be")
    props: dict[str, str] = {}
    seen_graph = False
    for number, value in _fields(data):
        if number == _METADATA_PROPS:
            if not isinstance(value, memoryview):  # a message is length-delimited (wire type 2)
                raise OnnxParseError("malformed metadata entry")
            entry = dict(_fields(value))
            key, val = entry.get(1, b""), entry.get(2, b"")
            if not isinstance(key, (bytes, memoryview)) or not isinstance(val, (bytes, memoryview)):
                raise OnnxParseError("metadata entry is not text")
            try:
                props[bytes(key).decode("utf-8")] = bytes(val).decode("utf-8")
            except UnicodeDecodeError:
                raise OnnxParseError("metadata entry is not text") from None
        elif number == 7:
            seen_graph = True
    if not seen_graph:
        raise OnnxParseError("no graph in the file")
    return props


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise OnnxParseError("truncated or malformed protobuf")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """Yield (field number, value) for each field: ints for varints, memoryviews for the rest."""
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise OnnxParseError("malformed protobuf (field 0)")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = view[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = view[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = view[pos:pos + 4], pos + 4
        else:
            raise OnnxParseError(f"malformed protobuf (wire type {wire})")
        if pos > end:
            raise OnnxParseError("truncated protobuf")
        yield number, value
