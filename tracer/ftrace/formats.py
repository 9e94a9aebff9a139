"""Parse tracefs `format` files (events/<system>/<event>/format, header_page) into layouts.

A format file lists each field as ``field:TYPE NAME;  offset:N;  size:N;  signed:N;``. Binary
decoders (trace.dat, trace_pipe_raw) use those offsets; nothing in a format file is evaluated.
Every length and offset read here is bounded, so a hostile format yields a FormatError line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import GemscopeError

MAX_FIELDS = 256
MAX_RECORD = 1 << 16


class FormatError(GemscopeError):
    """A tracefs format description cannot be understood."""


@dataclass(frozen=True)
class FieldFormat:
    name: str
    ctype: str
    offset: int
    size: int
    signed: bool

    @property
    def is_dynamic(self) -> bool:
        """__data_loc / __rel_loc fields: a u32 (len << 16 | offset) pointing into the record."""
        return self.ctype.startswith(("__data_loc", "__rel_loc"))

    @property
    def is_relative(self) -> bool:
        return self.ctype.startswith("__rel_loc")

    @property
    def is_char_array(self) -> bool:
        return "char" in self.ctype and "[" in self.name

    @property
    def base_name(self) -> str:
        return self.name.split("[", 1)[0]


@dataclass
class EventFormat:
    id: int
    system: str
    name: str
    fields: list[FieldFormat] = field(default_factory=list)
    print_fmt: str = ""

    @property
    def key(self) -> str:
        return f"{self.system}:{self.name}"

    @property
    def own_fields(self) -> list[FieldFormat]:
        """The event's fields without the common_* header."""
        return [f for f in self.fields if not f.name.startswith("common_")]

    def common(self, name: str) -> FieldFormat | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


_FIELD_RE = re.compile(
    r"field:\s*(?P<decl>[^;]{1,200});\s*offset:\s*(?P<off>\d{1,6});\s*size:\s*(?P<size>\d{1,6});"
    r"(?:\s*signed:\s*(?P<signed>\d);)?")


def parse_field_lines(text: str) -> list[FieldFormat]:
    out = []
    for m in _FIELD_RE.finditer(text):
        decl = m.group("decl").strip()
        ctype, _, name = decl.rpartition(" ")
        if not name:
            raise FormatError(f"field declaration without a name: {decl[:60]!r}")
        off, size = int(m.group("off")), int(m.group("size"))
        if off + size > MAX_RECORD:
            raise FormatError(f"field {name} at offset {off} size {size} exceeds {MAX_RECORD} bytes")
        out.append(FieldFormat(name.lstrip("*"), ctype.strip() + ("*" if name.startswith("*") else ""),
                               off, size, m.group("signed") == "1"))
        if len(out) > MAX_FIELDS:
            raise FormatError(f"more than {MAX_FIELDS} fields in one format")
    return out


def parse_event_format(text: str, system: str | None = None) -> EventFormat:
    """One events/<system>/<event>/format file."""
    name_m = re.search(r"^name:\s*(\S{1,128})", text, re.M)
    id_m = re.search(r"^ID:\s*(\d{1,9})", text, re.M)
    if not name_m or not id_m:
        raise FormatError("event format without 'name:' or 'ID:' line")
    pf = re.search(r"^print fmt:\s*(.*)$", text, re.M)
    fields = parse_field_lines(text)
    return EventFormat(int(id_m.group(1)), system or "", name_m.group(1), fields,
                       pf.group(1)[:65536] if pf else "")


@dataclass(frozen=True)
class PageHeader:
    """events/header_page: where the page timestamp, commit word and data start."""
    commit_offset: int = 8
    commit_size: int = 8
    data_offset: int = 16

    @classmethod
    def parse(cls, text: str) -> "PageHeader":
        fields = {f.name: f for f in parse_field_lines(text.replace("field: ", "field:"))}
        if "commit" not in fields or "data" not in fields:
            raise FormatError("header_page lacks the commit or data field")
        c, d = fields["commit"], fields["data"]
        if c.size not in (4, 8) or not 8 <= d.offset <= 64:
            raise FormatError(f"unsupported ring-buffer page header (commit size {c.size}, "
                              f"data offset {d.offset})")
        return cls(c.offset, c.size, d.offset)
