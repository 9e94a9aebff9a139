"""The shared state of one simulation: clock window, seeded random streams, the task registry,
the object allocator, the event log and the holder episodes the actors ask for.

Every actor gets its own random stream derived from (seed, actor name), so that adding events
to one actor never changes what another one draws: same seed, same events.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from . import catalog
from .events import EventLog, Threads
from .scenarios import Scenario
from .timeline import bo_sizes

T0_NS = 4_000_000_000_000          # the recording starts 4000 s after boot
REALTIME_OFFSET_NS = 1_760_000_000_000_000_000 - T0_NS   # a fixed, made-up wall clock

GPU_WORKER_TID = 412
FREE_WORKER_TID = 431
KSWAPD_TID = 98
RECORDER_TID = 4242
VMS_PER_CLIENT = 4


@dataclass
class Objects:
    """Allocates GEM objects (index -> address via catalog.obj_addr) and remembers sizes."""
    rng: np.random.Generator
    sizes: list[np.ndarray] = field(default_factory=list)
    next_index: int = 0

    def new(self, n: int, sizes: np.ndarray | None = None) -> np.ndarray:
        idx = np.arange(self.next_index, self.next_index + n, dtype=np.int64)
        self.next_index += n
        self.sizes.append(bo_sizes(self.rng, n) if sizes is None
                          else np.asarray(sizes, dtype=np.uint64))
        return idx

    def size_of(self, idx: np.ndarray) -> np.ndarray:
        return np.concatenate(self.sizes)[np.asarray(idx, dtype=np.int64)] if self.sizes \
            else np.zeros(0, dtype=np.uint64)


@dataclass
class Episodes:
    """Lock holds that injected waits and trylock failures need: who held which resv, when.

    Actors append requests; holders.emit_holders() turns them into the holder's resv_lock and
    resv_hold.
    """
    lock_addr: list[np.ndarray] = field(default_factory=list)
    obj_addr: list[np.ndarray] = field(default_factory=list)
    tid: list[np.ndarray] = field(default_factory=list)
    acquire_ns: list[np.ndarray] = field(default_factory=list)
    release_ns: list[np.ndarray] = field(default_factory=list)
    site: list[np.ndarray] = field(default_factory=list)   # 0 = a submit (ticket), 1 = madvise
    must_from: list[np.ndarray] = field(default_factory=list)
    must_to: list[np.ndarray] = field(default_factory=list)

    def add(self, lock_addr, obj_addr, tid, acquire_ns, release_ns, site, *, must_from,
            must_to) -> None:
        """Hold lock_addr over [acquire, release]; it must at least cover [must_from, must_to]
        (the injected wait or failed trylock). The rest may be trimmed so the hold does not
        cover another task's acquisition of the same lock."""
        n = len(acquire_ns)
        for name, v in (("lock_addr", lock_addr), ("obj_addr", obj_addr), ("tid", tid),
                        ("acquire_ns", acquire_ns), ("release_ns", release_ns), ("site", site),
                        ("must_from", must_from), ("must_to", must_to)):
            getattr(self, name).append(np.broadcast_to(np.asarray(v), (n,)).copy())


class World:
    def __init__(self, scenario: Scenario, seed: int, duration_s: float, scale: float):
        self.scenario = scenario
        self.seed = int(seed)
        self.scale = float(scale)
        self.t0 = T0_NS
        self.t_end = T0_NS + int(round(duration_s * 1e9))
        self.log = EventLog()
        self.threads = Threads()
        self.objects = Objects(self.rng("objects"))
        self.episodes = Episodes()
        self._add_threads()

    def rng(self, actor: str) -> np.random.Generator:
        """The random stream of one actor: a function of (seed, actor) only."""
        return np.random.default_rng([self.seed, zlib.crc32(actor.encode())])

    def _add_threads(self) -> None:
        th = self.threads
        th.add(GPU_WORKER_TID, GPU_WORKER_TID, "gpu-worker", 0)
        th.add(FREE_WORKER_TID, FREE_WORKER_TID, "msm-free-worker", 1)
        th.add(KSWAPD_TID, KSWAPD_TID, "kswapd0", 3)
        th.add(RECORDER_TID, RECORDER_TID, "gemscope", 7)
        for i, c in enumerate(self.scenario.clients):
            for role, off in (("submit", 0), ("close", 1), ("holder", 2), ("main", 3)):
                th.add(self.client_tid(i, role), c.pid, c.comm, (2 * i + off) % 8)

    def client_tid(self, client: int, role: str) -> int:
        """Thread ids of a client process: its submitting, GEM_CLOSE, lock-holding and main
        threads (the main thread, tid == pid, tears whole contexts down)."""
        pid = self.scenario.clients[client].pid
        return pid + {"submit": 17, "close": 23, "holder": 29, "main": 0}[role]

    def client_tids(self, clients: np.ndarray, role: str) -> np.ndarray:
        table = np.array([self.client_tid(i, role) for i in range(len(self.scenario.clients))],
                         dtype=np.int32)
        return table[np.asarray(clients, dtype=np.int64)]

    def vm_resv(self, clients: np.ndarray, objects: np.ndarray) -> np.ndarray:
        """The VM reservation (the r_obj resv NO_SHARE BOs share, v6.19) of an object: each
        client has VMS_PER_CLIENT GPU contexts, and an object lives in one of them."""
        vm = np.asarray(clients, dtype=np.int64) * VMS_PER_CLIENT \
            + np.asarray(objects, dtype=np.int64) % VMS_PER_CLIENT
        return catalog.addr_range(catalog.VM_RESV_BASE, vm, 0x1000)

    def rate(self, per_s: float) -> float:
        return per_s * self.scale

    @property
    def duration_ns(self) -> int:
        return self.t_end - self.t0
