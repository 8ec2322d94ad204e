"""commons.Variant encoding (reference-system.md section 6.2).

NONE: empty; DOUBLE: 8-byte IEEE-754 little-endian; INT: 8-byte signed
little-endian; STRING: UTF-8; JSON: UTF-8 JSON text written with Python's
default separators. PARQUET and ARROW are not supported.
"""

import json
import struct

from ._proto import commons_pb2


class VariantError(ValueError):
    """A value that cannot be encoded, or a Variant that cannot be decoded."""


def encode(value):
    """Encode a Python value as a commons.Variant.

    None -> NONE, bool and int -> INT (int64 range), float -> DOUBLE,
    str -> STRING, dict/list/tuple -> JSON. Anything else raises VariantError
    naming the type.
    """
    v = commons_pb2.Variant()
    if value is None:
        v.type = commons_pb2.NONE
    elif isinstance(value, (bool, int)):
        n = int(value)
        if not -(1 << 63) <= n < (1 << 63):
            raise VariantError("integer %d does not fit in 64 bits" % n)
        v.type = commons_pb2.INT
        v.value = struct.pack("<q", n)
    elif isinstance(value, float):
        v.type = commons_pb2.DOUBLE
        v.value = struct.pack("<d", value)
    elif isinstance(value, str):
        v.type = commons_pb2.STRING
        v.value = value.encode("utf-8")
    elif isinstance(value, (dict, list, tuple)):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise VariantError("result is not JSON-serialisable: %s" % exc) from None
        v.type = commons_pb2.JSON
        v.value = text.encode("utf-8")
    else:
        raise VariantError(
            "cannot encode a value of type %s (expected None, bool, int, float, str, dict or list)"
            % type(value).__name__)
    return v


def decode(v):
    """Decode a commons.Variant into a Python value (see encode)."""
    t, b = v.type, v.value
    if t == commons_pb2.NONE:
        return None
    if t == commons_pb2.DOUBLE:
        if len(b) != 8:
            raise VariantError("DOUBLE: expected 8 bytes, found %d" % len(b))
        return struct.unpack("<d", b)[0]
    if t == commons_pb2.INT:
        if not b:
            raise VariantError("INT: expected 8 bytes, found 0")
        return int.from_bytes(b, "little", signed=True)
    if t == commons_pb2.STRING:
        return b.decode("utf-8")
    if t == commons_pb2.JSON:
        return json.loads(b.decode("utf-8"))
    raise VariantError("unsupported variant type %s" % commons_pb2.VariantType.Name(t)
                       if t in commons_pb2.VariantType.values() else "unknown variant type %d" % t)
