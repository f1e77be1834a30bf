"""The Utils global: helpers a script author reaches for.

Strings:  split(s, sep?) -> array, trim(s), startsWith(s, prefix), endsWith(s, suffix)
Tables:   deepCopy(t), merge(t1, t2, ...) -> new table, keys(t) -> sorted array,
          values(t) -> array (key order), count(t), contains(t, value), isEmpty(t),
          map(t, fn), filter(t, fn)
System:   uuid() -> v4 string, now() -> milliseconds since the epoch (float),
          sleep(ms) (bounded by the script's time limit), hash(s, algo?) -> hex digest
          (sha256 default; md5, sha1, sha512, blake2b), base64Encode(s), base64Decode(s)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

ALGORITHMS = ("sha256", "md5", "sha1", "sha512", "blake2b")


def install(rt: Runtime, table: Any) -> None:
    helpers = rt.chunk("utils_helpers")()  # the string/table helpers: utils_helpers.lua
    for key, fn in helpers.items():
        table[key] = fn

    def sleep(ms: Any = None) -> None:
        if not isinstance(ms, int | float) or ms < 0:
            raise ApiError(f"Utils.sleep: expected milliseconds >= 0, got {convert.describe(ms)}")
        seconds = ms / 1000
        remaining = rt.remaining_seconds()
        if remaining is not None and seconds > remaining:
            time.sleep(remaining)
            rt.check()
            return
        time.sleep(seconds)

    def hash_(data: Any = None, algo: Any = None) -> str:
        raw = data if isinstance(data, bytes) else None
        if raw is None:
            raise ApiError(f"Utils.hash: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        name = convert.decode(algo) if isinstance(algo, bytes) else "sha256"
        if name not in ALGORITHMS:
            raise ApiError(f"Utils.hash: unknown algorithm '{name}' "
                           f"(expected one of {', '.join(ALGORITHMS)})")
        return hashlib.new(name, raw).hexdigest()

    def b64encode(data: Any = None) -> bytes:
        if not isinstance(data, bytes):
            raise ApiError(f"Utils.base64Encode: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        return base64.b64encode(data)

    def b64decode(data: Any = None) -> bytes:
        if not isinstance(data, bytes):
            raise ApiError(f"Utils.base64Decode: argument #1 must be a string, got "
                           f"{convert.describe(data)}")
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ApiError(f"Utils.base64Decode: invalid base64: {exc}") from None

    functions: dict[str, Any] = {
        "uuid": lambda: str(uuid.uuid4()),
        "now": lambda: time.time() * 1000,
        "sleep": sleep,
        "hash": hash_,
        "base64Encode": b64encode,
        "base64Decode": b64decode,
    }
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Utils.{name}")
