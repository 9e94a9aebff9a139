"""The bundled sample traces: which scenario, seed, length and scale each file is made with.

`scripts/make-samples` runs `make_samples("sample-traces")`; a unit test regenerates them and
checks the events are identical, so this list is the one record of how each file was made.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from . import generate


@dataclass(frozen=True)
class Sample:
    scenario: str
    seed: int
    duration_s: float
    scale: float = 1.0

    @property
    def filename(self) -> str:
        return f"{self.scenario}.gsrec"

    @property
    def command(self) -> str:
        return (f"gemscope simulate {self.scenario} -o sample-traces/{self.filename} "
                f"--seed {self.seed} --duration-s {self.duration_s:g} --scale {self.scale:g}")


SAMPLES = (
    Sample("sync-free-in-retire", 2, 2.5),
    Sample("async-free-worker", 2, 2.5),
    Sample("trylock-or-defer", 2, 2.5),
    Sample("shrinker-storm", 2, 2.5),
    Sample("vm-lock-under-reclaim", 2, 2.5),
)


def make_samples(outdir: str | os.PathLike) -> list[str]:
    """Write every sample recording and its .truth.json into outdir; returns the paths."""
    paths = []
    for s in SAMPLES:
        path = os.path.join(os.fspath(outdir), s.filename)
        generate(s.scenario, path, seed=s.seed, duration_s=s.duration_s, scale=s.scale)
        paths.append(path)
    return paths


if __name__ == "__main__":
    import sys
    for p in make_samples(sys.argv[1] if len(sys.argv) > 1 else "sample-traces"):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)")
