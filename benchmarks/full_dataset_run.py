"""`maskgen render` on a whole dataset, once straight through and once killed half-way and resumed; checks that
the manifest accounts for every file, the tree is mirrored and the resumed run wrote the same bytes.

    python benchmarks/full_dataset_run.py --src ../shared/data/lfw-expressions/images --workers 2

Writes benchmarks/results/full_dataset_run.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data"))


def render(src: Path, dst: Path, workers: int, extra: list[str], kill_after: float | None = None) -> tuple[int, float]:
    command = [sys.executable, "-m", "maskgen", "render", str(src), str(dst), "--workers", str(workers),
               "--seed", "1", "--cache", str(dst.parent / "landmarks.sqlite"), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: parent and workers, no clean-up
    out, _ = proc.communicate()
    print(out.strip().splitlines()[-3:] if out else "(killed)")
    return proc.returncode, time.perf_counter() - start


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DATA / "lfw-expressions" / "images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-after", type=float, default=40.0, help="seconds before the second run is killed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "full_dataset_run.json")
    args = parser.parse_args()
    sources = sorted(p.relative_to(args.src).as_posix() for p in args.src.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        code_full, seconds_full = render(args.src, tmp / "a" / "out", args.workers, [])
        code_killed, seconds_killed = render(args.src, tmp / "b" / "out", args.workers, [], kill_after=args.kill_after)
        lines_at_kill = len((tmp / "b" / "out" / "manifest.jsonl").read_text().splitlines())
        code_resumed, seconds_resumed = render(args.src, tmp / "b" / "out", args.workers, ["--resume"])
        records = [json.loads(line) for line in (tmp / "a" / "out" / "manifest.jsonl").read_text().splitlines()]
        resumed = [json.loads(line) for line in (tmp / "b" / "out" / "manifest.jsonl").read_text().splitlines()]
        full, again = digests(tmp / "a" / "out"), digests(tmp / "b" / "out")
        statuses: dict[str, int] = {}
        for r in records:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        summary = json.loads((tmp / "a" / "out" / "summary.json").read_text())
        report = {
            "command": provenance.command(),
            "date": provenance.today(),
            "machine": provenance.machine(),
            "source_files": len(sources), "workers": args.workers, "seed": 1,
            "straight_run": {"exit_code": code_full, "seconds": seconds_full, "statuses": statuses,
                             "faces_per_second": summary["this_run"]["faces_per_second"]},
            "manifest_accounts_for_every_file": sorted({r["source"] for r in records}) == sources,
            "outputs_mirror_tree": all((tmp / "a" / "out" / r["output"]).is_file()
                                       for r in records if r["status"] == "rendered"),
            "killed_run": {"exit_code": code_killed, "seconds": seconds_killed, "manifest_lines": lines_at_kill},
            "resumed_run": {"exit_code": code_resumed, "seconds": seconds_resumed,
                            "manifest_lines": len(resumed),
                            "duplicate_sources": len(resumed) - len({r["source"] for r in resumed})},
            "resumed_bytes_equal_straight_run": full == again,
            "outputs": len(full),
        }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
