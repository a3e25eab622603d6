"""Build the wheel and the sdist, install the wheel into a new virtual environment, and run it from there.

``make wheel-check`` (and so ``.ci/run``) runs this. Steps, each printed:

1. ``pip wheel . --no-deps`` (as docs/ci.md recommends) and ``python -m build --sdist`` into ``dist/``;
2. a wheel built from that sdist must hold the same files as the one built from the tree (the sdist is whole);
3. a virtual environment in a temporary folder, the wheel installed into it with its dependencies;
4. from a working folder outside the source tree: ``loopwise demo`` (its report, gate and monitor files must
   appear), then ``roundtrip.py``: ``loopwise serve`` on loopback and the SDK against it.

Exits non-zero on the first failure. ``--keep`` leaves the temporary folder for a look.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], **kw: object) -> None:
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]
    print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n for n in z.namelist() if ".dist-info/" not in n}


def build(dist: Path) -> tuple[Path, Path]:
    """The wheel (``pip wheel .``) and the sdist (``python -m build --sdist``) of the tree, in ``dist``."""
    for old in [*dist.glob("loopwise-*.whl"), *dist.glob("loopwise-*.tar.gz")]:
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)])
    run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(ROOT)],
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = dist.glob("loopwise-*.whl")
    (sdist,) = dist.glob("loopwise-*.tar.gz")
    return wheel, sdist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    args.dist.mkdir(exist_ok=True)
    wheel, sdist = build(args.dist)
    print(
        f"built {wheel.name} ({wheel.stat().st_size:,} bytes), {sdist.name} ({sdist.stat().st_size:,} bytes)"
    )

    tmp = Path(tempfile.mkdtemp(prefix="lw-wheel-check-"))
    try:
        from_sdist = tmp / "from-sdist"
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(from_sdist), str(sdist)])
        (again,) = from_sdist.glob("loopwise-*.whl")
        if wheel_files(again) != wheel_files(wheel):
            sys.exit(
                f"the sdist is not whole: its wheel differs by {wheel_files(again) ^ wheel_files(wheel)}"
            )
        print(f"the wheel built from the sdist holds the same {len(wheel_files(wheel))} files")

        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        py, cli = venv / "bin" / "python", venv / "bin" / "loopwise"
        run([str(py), "-m", "pip", "install", "--quiet", str(wheel)])
        work = tmp / "work"  # not the source tree: nothing there can be imported by accident
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["LOOPWISE_HOME"] = str(work)
        run([str(cli), "demo", "--out", "demo", "--rows", "20000"], cwd=work, env=env)
        made = sorted(p.name for p in (work / "demo").iterdir())
        for name in ("report.html", "report.json", "gate.xml", "gate.md", "monitor.db", "ref.lwp"):
            if name not in made:
                sys.exit(f"loopwise demo made no {name} (it made {', '.join(made)})")
        print(f"loopwise demo from the install made {', '.join(made)}")
        shutil.copy(Path(__file__).with_name("roundtrip.py"), work / "roundtrip.py")
        run([str(py), "roundtrip.py"], cwd=work, env=env)
        print("wheel check passed")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
