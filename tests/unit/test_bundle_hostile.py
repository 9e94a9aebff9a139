"""Hostile bundles: each is refused with one line naming the check, before anything is written."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zlib

import pytest

from bundle_craft import patch_declared_size, read_parts, rebuild, write_zip
from lifecycle_fixture import write_lifecycle
from tracer.bundle import BundleError, Limits, open_and_verify, open_input
from tracer.bundle.writer import create_bundle
from tracer.cli import main
from tracer.errors import GemscopeError, RecordingError


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    out = str(d / "good.gsbundle")
    create_bundle(write_lifecycle(d / "fx.gsrec"), out)
    return out


def refused(path, limits: Limits | None = None) -> str:
    """The one-line message a bundle is refused with (nothing may be written outside tmp)."""
    dest = os.path.join(os.path.dirname(path), "dest")
    os.makedirs(dest, exist_ok=True)
    with pytest.raises(BundleError) as e:
        open_and_verify(path, dest, limits or Limits())
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    return msg[len(path) + 2:]


def test_the_good_bundle_passes(good):
    assert "recording.gsrec" in open_and_verify(good).parts


def test_zip_slip_path(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"../evil.txt": b"pwned"})
    assert refused(bad) == ("bundle refused by the path check: member '../evil.txt' is an "
                            "absolute path or climbs out with '..'")
    assert not os.path.exists(tmp_path / "evil.txt")


def test_nested_zip_slip_and_absolute_path(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"plots/../../evil": b"x"})
    assert refused(bad) == ("bundle refused by the path check: member 'plots/../../evil' is an "
                            "absolute path or climbs out with '..'")
    bad = rebuild(good, tmp_path / "c.zip", add={"/etc/cron.d/evil": b"x"})
    assert refused(bad) == ("bundle refused by the path check: member '/etc/cron.d/evil' is an "
                            "absolute path or climbs out with '..'")


def test_backslash_and_odd_names(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"..\\evil": b"x"})
    assert refused(bad) == ("bundle refused by the path check: member name '..\\\\evil' contains "
                            "a backslash or NUL byte")
    bad = rebuild(good, tmp_path / "c.zip", add={".hidden": b"x"})
    assert refused(bad) == ("bundle refused by the path check: member name '.hidden' is not a "
                            "plain relative part name")


def test_symlink_member(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"plots/link": b"/etc/passwd"},
                  modes={"plots/link": stat.S_IFLNK | 0o777})
    assert refused(bad) == ("bundle refused by the member type check: member 'plots/link' is a "
                            "symlink, not a regular file")


def test_device_and_fifo_members(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"dev": b""}, modes={"dev": stat.S_IFCHR | 0o600})
    assert refused(bad) == ("bundle refused by the member type check: member 'dev' is a "
                            "character device, not a regular file")
    bad = rebuild(good, tmp_path / "c.zip", add={"fifo": b""}, modes={"fifo": stat.S_IFIFO | 0o600})
    assert refused(bad) == ("bundle refused by the member type check: member 'fifo' is a FIFO, "
                            "not a regular file")


def test_decompression_bomb_by_ratio(good, tmp_path):
    bomb = bytes(50 << 20)                      # 50 MiB of zeros deflate to ~50 KiB
    bad = rebuild(good, tmp_path / "b.zip", replace={"summary.md": bomb})
    ratio = (50 << 20) / len(zlib.compress(bomb))   # deflate raw vs zlib framing: within 1x
    msg = refused(bad)
    assert msg.startswith("bundle refused by the compression ratio check: part summary.md "
                          "inflates ") and msg.endswith("x (limit 200x): a decompression bomb")
    assert abs(int(msg.split("inflates ")[1].split("x")[0]) - ratio) < 5


def test_huge_declared_size(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip")
    patch_declared_size(bad, "summary.md", 0xFFFFFFF0)
    assert refused(bad) == ("bundle refused by the part size check: part summary.md declares "
                            "4.0 GiB uncompressed (limit 64.0 MiB)")


def test_declared_size_that_disagrees_with_the_manifest(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip")
    real = len(read_parts(bad)["summary.md"])
    patch_declared_size(bad, "summary.md", 100)
    assert refused(bad) == f"part summary.md is damaged: 100 bytes, the manifest says {real}"


def test_bundle_over_the_size_limit(good):
    size = os.path.getsize(good)
    assert refused(good, Limits(max_bundle_bytes=size - 1)) == (
        f"bundle refused by the bundle size check: {size / 1024:.1f} KiB is over the "
        f"{(size - 1) / 1024:.1f} KiB limit")


def test_truncated_bundle(good, tmp_path):
    data = open(good, "rb").read()
    bad = tmp_path / "cut.zip"
    bad.write_bytes(data[: len(data) // 2])
    assert refused(str(bad)) == ("bundle refused by the zip structure check: truncated or not a "
                                 "ZIP (File is not a zip file)")


def test_wrong_checksum(good, tmp_path):
    parts = read_parts(good)
    bad = rebuild(good, tmp_path / "b.zip", replace={"summary.md": parts["summary.md"][:-1] + b"!"},
                  relist=False)
    assert refused(bad) == "part summary.md is damaged: sha256 mismatch"


def test_bit_rot_in_a_stored_part_is_caught(good, tmp_path):
    data = bytearray(open(good, "rb").read())
    start = data.find(b"ARROW1") if b"ARROW1" in data else data.find(b"\xff\xff\xff\xff") + 200
    data[start + 300] ^= 0x01
    bad = tmp_path / "rot.zip"
    bad.write_bytes(bytes(data))
    assert refused(str(bad)) == ("part recording.gsrec is damaged: Bad CRC-32 for file "
                                 "'recording.gsrec'")


def test_extra_and_missing_parts(good, tmp_path):
    bad = rebuild(good, tmp_path / "b.zip", add={"notes.txt": b"hello"}, relist=False)
    assert refused(bad) == ("bundle refused by the parts check: part notes.txt is not listed in "
                            "the manifest (extra part)")
    bad = rebuild(good, tmp_path / "c.zip", drop=("plots/retire_run_split.png",), relist=False)
    assert refused(bad) == ("bundle refused by the parts check: part plots/retire_run_split.png "
                            "listed in the manifest is missing")


def test_duplicate_names(good, tmp_path):
    parts = read_parts(good)
    members = list(parts.items()) + [("summary.md", b"second copy")]
    bad = write_zip(tmp_path / "b.zip", members)
    assert refused(bad) == ("bundle refused by the duplicate name check: member 'summary.md' "
                            "appears more than once")


def test_zip_without_manifest(tmp_path):
    bad = write_zip(tmp_path / "b.zip", [("recording.gsrec", b"x")])
    assert refused(bad) == ("bundle refused by the manifest check: no manifest.json (not a "
                            "gemscope bundle)")


def test_malformed_manifest(good, tmp_path):
    parts = read_parts(good)
    parts["manifest.json"] = b'{"format": "gemscope-bundle", "format_version": 99, "parts": {}}'
    bad = write_zip(tmp_path / "b.zip", list(parts.items()))
    assert refused(bad) == ("bundle refused by the manifest check: format_version 99 is not one "
                            "this gemscope reads (1..1)")


def test_tar_with_a_hardlink_is_not_a_bundle(tmp_path, capsys):
    """Only ZIP bundles exist; a tar (with a hardlink, a device...) is refused as a whole."""
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("recording.gsrec")
        info.type = tarfile.LNKTYPE
        info.linkname = "/etc/shadow"
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(RecordingError):
        with open_input(path) as p:
            from tracer.recording import open_recording
            open_recording(p)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # report also tries trace.dat / ftrace text, so it names every format the file is not
    assert len(err) == 1 and err[0].startswith("gemscope: error: ") and \
        "not an ftrace text, trace.dat or gemscope recording" in err[0]


def test_cli_report_on_a_hostile_bundle_is_one_line(good, tmp_path, capsys):
    bad = rebuild(good, tmp_path / "b.zip", add={"../evil.txt": b"pwned"})
    assert main(["report", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gemscope: error: {bad}: bundle refused by the path check: member "
                   "'../evil.txt' is an absolute path or climbs out with '..'"]
    assert issubclass(BundleError, GemscopeError)


def test_overlapping_entries(good, tmp_path):
    from bundle_craft import add_overlapping_entry
    bad = rebuild(good, tmp_path / "b.zip")
    add_overlapping_entry(bad, "summary.md", "summary.mx")
    assert refused(bad) == ("bundle refused by the overlap check: parts summary.md and "
                            "summary.mx overlap in the file (a crafted bomb)")


def test_not_enough_space_to_extract(good, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    size = open_and_verify(good).manifest["parts"]["recording.gsrec"]["size_bytes"]
    dest = os.path.join(os.path.dirname(good), "dest")
    assert refused(good) == (f"not enough space to extract the recording: {size / 1024:.1f} KiB "
                             f"needed, 1000 B free in {dest} (set TMPDIR to a larger file system)")
