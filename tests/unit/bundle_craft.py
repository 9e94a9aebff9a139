"""Helpers that craft (hostile) bundles: re-zip a real bundle's parts with chosen changes."""
from __future__ import annotations

import hashlib
import json
import stat
import struct
import zipfile


def read_parts(path) -> dict[str, bytes]:
    """All members of a bundle WE made (trusted), by name."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def manifest_for(parts: dict[str, bytes], base: dict) -> bytes:
    m = dict(base)
    m["parts"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size_bytes": len(d), "role": "x"}
                  for n, d in parts.items() if n != "manifest.json"}
    return json.dumps(m).encode()


def write_zip(path, members: list[tuple[str, bytes]], *, modes: dict[str, int] | None = None,
              deflate: bool = True) -> str:
    """Write members in order (duplicates allowed); modes sets a member's Unix mode bits."""
    import warnings
    modes = modes or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = modes.get(name, stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                zf.writestr(info, data)
    return str(path)


def rebuild(src, dst, *, add: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
            replace: dict[str, bytes] | None = None, relist: bool = True,
            modes: dict[str, int] | None = None) -> str:
    """Copy bundle src to dst with parts added/dropped/replaced; relist=True rewrites the manifest
    so that it matches (then only the crafted property can make the bundle fail)."""
    parts = read_parts(src)
    base = json.loads(parts.pop("manifest.json"))
    for n in drop:
        parts.pop(n)
    parts.update(replace or {})
    parts.update(add or {})
    manifest = manifest_for(parts, base) if relist else json.dumps(base).encode()
    return write_zip(dst, [("manifest.json", manifest), *parts.items()], modes=modes)


def patch_declared_size(path, name: str, new_size: int) -> None:
    """Overwrite a member's uncompressed size in the central directory (a lying header)."""
    data = bytearray(open(path, "rb").read())
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        assert pos >= 0, f"{name} not found in the central directory"
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_len] == name.encode():
            struct.pack_into("<I", data, pos + 24, new_size)
            break
        pos += 4
    open(path, "wb").write(bytes(data))


def add_overlapping_entry(path, name: str, alias: str) -> None:
    """Append a second central-directory entry `alias` pointing at `name`'s data (the overlapping
    -entries bomb): same local header offset, so two parts share the same bytes."""
    data = bytearray(open(path, "rb").read())
    eocd = data.rfind(b"PK\x05\x06")
    count = struct.unpack_from("<H", data, eocd + 10)[0]          # entries in total
    cd_size, cd_off = struct.unpack_from("<II", data, eocd + 12)
    pos = cd_off
    while pos < cd_off + cd_size:
        n, m, k = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46:pos + 46 + n] == name.encode():
            assert len(alias) == n
            record = bytearray(data[pos:pos + 46 + n + m + k])
            record[46:46 + n] = alias.encode()
            break
        pos += 46 + n + m + k
    else:
        raise AssertionError(f"{name} not in the central directory")
    cd_end = cd_off + cd_size
    new = data[:cd_end] + record + data[cd_end:]
    e = eocd + len(record)
    struct.pack_into("<HHI", new, e + 8, count + 1, count + 1, cd_size + len(record))
    open(path, "wb").write(bytes(new))
