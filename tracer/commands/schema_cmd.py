"""`gemscope schema`: print every event kind and field with its unit and meaning."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the event schema (kinds, fields, units)",
                       description="Print every event kind gemscope records and its fields.")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import schema
    print(schema.describe())
    return 0
