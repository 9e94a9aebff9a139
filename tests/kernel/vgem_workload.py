"""A real DRM driver workload on vgem (run in the guest, as root): dumb buffers created and closed,
one buffer shared between two DRM files through a dma-buf, and two threads attaching and signalling
vgem fences on it (vgem_fence_attach_ioctl locks the buffer's dma_resv, so they contend on it).

Used to record a real-kernel sample trace of generic DRM code (gemscope's resv/fence/last-put
probes); vgem has no shrinker and never trylocks, and no msm code exists on x86.
"""
from __future__ import annotations

import fcntl
import os
import struct
import threading
from pathlib import Path


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord("d") << 8) | nr


CREATE_DUMB = _ioc(3, 0xB2, 32)      # struct drm_mode_create_dumb
GEM_CLOSE = _ioc(1, 0x09, 8)         # struct drm_gem_close
HANDLE_TO_FD = _ioc(3, 0x2D, 12)     # struct drm_prime_handle
FD_TO_HANDLE = _ioc(3, 0x2E, 12)
FENCE_ATTACH = _ioc(3, 0x41, 16)     # struct drm_vgem_fence_attach (DRM_COMMAND_BASE + 1)
FENCE_SIGNAL = _ioc(1, 0x42, 8)      # struct drm_vgem_fence_signal
VGEM_FENCE_WRITE = 1


def vgem_card() -> str:
    for card in sorted(Path("/sys/class/drm").glob("card[0-9]*")):
        if "vgem" in os.path.realpath(card / "device"):
            return f"/dev/dri/{card.name}"
    raise RuntimeError("no vgem card (modprobe vgem)")


def create(fd: int, size_kib: int = 64) -> int:
    buf = bytearray(struct.pack("IIIIIIQ", 1, size_kib * 256, 32, 0, 0, 0, 0))
    fcntl.ioctl(fd, CREATE_DUMB, buf)
    return struct.unpack("IIIIIIQ", buf)[4]


def close(fd: int, handle: int) -> None:
    fcntl.ioctl(fd, GEM_CLOSE, bytearray(struct.pack("II", handle, 0)))


def share(fd_a: int, handle: int, fd_b: int) -> int:
    buf = bytearray(struct.pack("IIi", handle, os.O_CLOEXEC | os.O_RDWR, -1))
    fcntl.ioctl(fd_a, HANDLE_TO_FD, buf)
    dmabuf = struct.unpack("IIi", buf)[2]
    buf = bytearray(struct.pack("IIi", 0, 0, dmabuf))
    fcntl.ioctl(fd_b, FD_TO_HANDLE, buf)
    os.close(dmabuf)
    return struct.unpack("IIi", buf)[0]


def fence_cycle(fd: int, handle: int) -> None:
    buf = bytearray(struct.pack("IIII", handle, VGEM_FENCE_WRITE, 0, 0))
    fcntl.ioctl(fd, FENCE_ATTACH, buf)
    fence = struct.unpack("IIII", buf)[2]
    fcntl.ioctl(fd, FENCE_SIGNAL, bytearray(struct.pack("II", fence, 0)))


def run(buffers: int = 200, fence_cycles: int = 500) -> dict:
    card = vgem_card()
    fa, fb = os.open(card, os.O_RDWR), os.open(card, os.O_RDWR)
    try:
        for _ in range(buffers):          # create+close: dma_resv_init/fini, last put -> free
            close(fa, create(fa))
        ha = create(fa)
        hb = share(fa, ha, fb)            # same object, same dma_resv, two DRM files
        errors = []
        busy = [0]

        def worker(fd, h):
            done = 0
            while done < fence_cycles:
                try:
                    fence_cycle(fd, h)
                    done += 1
                except OSError as e:
                    if e.errno != 16:     # EBUSY: the other file's write fence is unsignalled
                        errors.append(str(e))
                        return
                    busy[0] += 1

        ts = [threading.Thread(target=worker, args=a) for a in ((fa, ha), (fb, hb))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        close(fb, hb)
        close(fa, ha)
        return {"card": card, "buffers": buffers + 1, "fence_cycles": 2 * fence_cycles,
                "ebusy_retries": busy[0], "errors": errors[:3]}
    finally:
        os.close(fa)
        os.close(fb)


if __name__ == "__main__":
    print(run())
