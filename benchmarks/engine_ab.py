"""Local engine, before and after it survived dying workers (2026-12-01), side by side on this machine.

    python benchmarks/engine_ab.py   ->  benchmarks/results/engine_pool_vs_executor.json

Before: multiprocessing.Pool, imap_unordered with chunks of 4 (kept here as the reference; it waits forever
when a worker is killed). After: `maskgen.cli.run_local` (ProcessPoolExecutor, chunks of CHUNK_FILES, a few in
flight per worker). Two workers, every lfw-expressions photo, landmarks cached by a warm-up run, alternating
before/after twice in one run, since these machines drift by 10 % within minutes.
"""
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # render_speed
import provenance  # noqa: E402
os.environ["TQDM_DISABLE"] = "1"
import render_speed as RS
from maskgen import cli
from maskgen.batch import RenderOptions


def old_run_local(tasks, options, workers):
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=cli._init_worker)
    try:
        yield from pool.imap_unordered(cli._process, [(t, options) for t in tasks], chunksize=4)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def main():
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        src, cache, tasks, source = RS.warm_folder(Path(tmp), 20000)
        for rep in range(2):
            for name, engine in (("pool (before)", old_run_local), ("executor (after)", cli.run_local)):
                dst = Path(tmp) / f"dst-{rep}-{name[:4]}"
                options = RenderOptions(src=str(src), dst=str(dst), style="varied", seed=1, cache=str(cache))
                run = RS.timed_run(engine(tasks, options, 2))
                out.append({"engine": name, "repeat": rep, **run})
                print(name, rep, round(run["faces_per_second"], 1), flush=True)
                shutil.rmtree(dst)
    ratios = [after["faces_per_second"] / before["faces_per_second"] for before, after in zip(out[0::2], out[1::2])]
    report = {"command": provenance.command(), "date": provenance.today(),
              "machine": provenance.machine(), "source": source,
              "files": len(tasks), "workers": 2, "runs": out, "after_over_before_ratio_per_pair": ratios,
              "after_over_before_ratio_mean": sum(ratios) / len(ratios)}
    path = Path(__file__).resolve().parent / "results" / "engine_pool_vs_executor.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
