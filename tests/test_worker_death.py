"""A worker process that dies mid-file (the memory killer, a crash in native code) must not hang or stop a
batch run: the file that killed it is recorded as failed, every other file is rendered, and a resume retries
the failed one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from maskgen import cli
from maskgen.batch import WORKER_DIED, RenderOptions, Summary, Task, failed_records, plan_run, scan_tree

SAMPLES = Path(__file__).resolve().parents[1] / "maskgen" / "samples"


def _die_on_poison(args: tuple[Task, RenderOptions]):
    """Runs in a spawned worker: exits at once, as a killed process would, for any file named poison."""
    task, _ = args
    if "poison" in task.relpath:
        os._exit(9)
    return cli._process(args)


def test_a_file_that_kills_its_worker_is_recorded_as_failed_and_the_rest_are_rendered(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for name in ("Madonna_0002.jpg", "Linda_Sanchez_0001.jpg", "Tommy_Robredo_0001.jpg"):
        shutil.copy(SAMPLES / name, src / name)
    shutil.copy(SAMPLES / "Madonna_0002.jpg", src / "poison.jpg")
    options = RenderOptions(src=str(src), dst=str(dst), seed=3)
    records = [r for batch in cli.run_local(scan_tree(src), options, workers=2, process=_die_on_poison)
               for r in batch]
    by_source = {r["source"]: r for r in records}
    assert sorted(by_source) == ["Linda_Sanchez_0001.jpg", "Madonna_0002.jpg", "Tommy_Robredo_0001.jpg", "poison.jpg"]
    assert len(records) == 4  # each file once: the ones lost with the pool were redone, not doubled
    assert by_source["poison.jpg"]["status"] == "failed" and by_source["poison.jpg"]["reason"] == WORKER_DIED
    for name in ("Madonna_0002.jpg", "Linda_Sanchez_0001.jpg", "Tommy_Robredo_0001.jpg"):
        assert by_source[name]["status"] == "rendered" and (dst / by_source[name]["output"]).is_file()
    assert not (dst / "poison.jpg").exists()


def test_failed_is_not_final_so_a_resume_retries_it_and_the_summary_says_so(tmp_path):
    whole, split = Task("a.jpg"), Task("b.jpg", variants=(8, 11))
    assert [r["variant"] for r in failed_records(split, WORKER_DIED)] == [8, 9, 10]
    failed = failed_records(whole, WORKER_DIED)
    assert failed == [{"source": "a.jpg", "output": None, "status": "failed", "reason": WORKER_DIED, "faces": 0}]
    plan = plan_run([whole], {"a.jpg": failed}, tmp_path, per_image=1)
    assert [t.relpath for t in plan.todo] == ["a.jpg"] and plan.files_done == 0
    summary = Summary()
    summary.add(failed)
    assert "1 failed" in next(summary.lines())


def test_the_cli_lists_a_failed_file_in_manifest_and_summary_and_a_resume_renders_it(tmp_path, monkeypatch, capsys):
    import json

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    shutil.copy(SAMPLES / "Madonna_0002.jpg", src / "a.jpg")
    shutil.copy(SAMPLES / "Linda_Sanchez_0001.jpg", src / "b.jpg")
    real_run_local = cli.run_local

    def b_kills_its_worker(tasks, options, workers, process=None):
        for task in tasks:
            if task.relpath == "b.jpg":
                yield failed_records(task, WORKER_DIED)
            else:
                yield from real_run_local([task], options, 1)

    monkeypatch.setattr(cli, "run_local", b_kills_its_worker)
    assert cli.main(["render", str(src), str(dst), "--workers", "1"]) == cli.EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    assert "1 rendered" in printed and "1 failed (see the manifest; --resume retries)" in printed
    records = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert {r["source"]: r["status"] for r in records} == {"a.jpg": "rendered", "b.jpg": "failed"}
    assert json.loads((dst / "summary.json").read_text())["all"]["counts"] == {"rendered": 1, "failed": 1}
    monkeypatch.setattr(cli, "run_local", real_run_local)
    assert cli.main(["render", str(src), str(dst), "--workers", "1", "--resume"]) == cli.EXIT_OK
    records = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert sorted((r["source"], r["status"]) for r in records) == [("a.jpg", "rendered"), ("b.jpg", "rendered")]


def _always_die(args: tuple[Task, RenderOptions]):
    os._exit(9)


def test_workers_that_die_on_every_file_stop_the_run_with_a_clear_error(tmp_path, capsys):
    """Workers that cannot live (a broken install, a machine that kills every one) would otherwise mark every file
    failed, one fresh process at a time: after DEATHS_IN_A_ROW files in a row the run stops, resumable."""
    import pytest

    from maskgen.batch import DEATHS_IN_A_ROW, WorkersDying

    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        shutil.copy(SAMPLES / "Madonna_0002.jpg", src / f"{i}.jpg")
    options = RenderOptions(src=str(src), dst=str(tmp_path / "dst"))
    seen = []
    with pytest.raises(WorkersDying, match="--resume"):
        for batch in cli.run_local(scan_tree(src), options, workers=2, process=_always_die):
            seen.extend(batch)
    assert len(seen) == DEATHS_IN_A_ROW - 1 and all(r["status"] == "failed" for r in seen)


def test_the_cli_says_why_it_stopped_and_exits_with_its_own_code(tmp_path, monkeypatch, capsys):
    from maskgen.batch import WorkersDying

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLES / "Madonna_0002.jpg", src / "a.jpg")

    def dying(tasks, options, workers, process=None):
        raise WorkersDying(3)
        yield  # a generator, as the real engine is

    monkeypatch.setattr(cli, "run_local", dying)
    assert cli.main(["render", str(src), str(tmp_path / "dst")]) == cli.EXIT_WORKERS_DYING
    assert "3 files in a row each killed the worker" in capsys.readouterr().err


def _slow_but_first(args: tuple[Task, RenderOptions]):
    """Runs in a spawned worker: file 0 at once, the others after a pause, so the consumer holds a record while
    the pool still works."""
    import time

    task, _ = args
    if task.relpath != "0.jpg":
        time.sleep(3)
    return cli._process(args)


def test_an_interrupt_while_the_engine_waits_stops_its_workers(tmp_path, monkeypatch):
    """Ctrl-C lands in the consumer loop while the engine's generator waits at a yield: the pool must be shut
    down then, not left to Python's exit-time join, which waits for workers nobody told to stop."""
    import gc
    import multiprocessing

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for i in range(4):
        shutil.copy(SAMPLES / "Madonna_0002.jpg", src / f"{i}.jpg")
    real_run_local = cli.run_local
    monkeypatch.setattr(cli, "CHUNK_FILES", 1)
    monkeypatch.setattr(cli, "run_local", lambda tasks, options, workers, process=None:
                        real_run_local(tasks, options, workers, process=_slow_but_first))
    appended = []

    def interrupt_on_first_record(self, records):
        appended.append(records)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.ManifestJournal, "append", interrupt_on_first_record)
    gc.disable()  # only an explicit close may stop the pool, not a collection that happens to come first
    try:
        assert cli.main(["render", str(src), str(dst), "--workers", "2"]) == cli.EXIT_INTERRUPTED
        assert len(appended) == 1
        assert multiprocessing.active_children() == []
    finally:
        gc.enable()


def _serve_forever(pid_file: str) -> None:
    """A parent run, in its own process: one pool worker (with maskgen's initializer) busy on a long task."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=cli._init_worker)
    pool.submit(_report_and_sleep, pid_file)
    time.sleep(120)


def _report_and_sleep(pid_file: str) -> None:
    import time

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waiting for init to reap it is gone


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """A batch scheduler or the memory killer may kill the run's main process alone: its workers must not live
    on, holding their memory, for good."""
    import multiprocessing
    import signal
    import sys
    import time

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc to see whether the worker lives")
    pid_file = tmp_path / "worker.pid"
    parent = multiprocessing.get_context("spawn").Process(target=_serve_forever, args=(str(pid_file),))
    parent.start()
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    worker = int(pid_file.read_text())
    assert _alive(worker)
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 10 * cli.PARENT_POLL_SECONDS + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)
