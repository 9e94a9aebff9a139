"""Exports of a recording for other tools: Perfetto (protobuf trace), CSV and Parquet per kind."""
