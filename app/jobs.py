"""Background jobs: `ser` commands the app starts in their own process, follows and stops.

A job lives in a folder (a run, a sweep, or $SER_HOME/jobs/quickstart):

    FOLDER/job.json   the command, its pid and when it started
    FOLDER/job.log    its stdout and stderr
    FOLDER/spec.json  the resolved settings it was launched with (train and sweep jobs)

The process gets its own session, so a Streamlit rerun or a closed browser tab
never stops it; `stop` sends SIGTERM, on which the trainer saves its finished
folds and marks the run stopped. Nothing here imports streamlit.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ser_core.config import RunSpec
from ser_core.paths import jobs_dir
from ser_core.quickstart import quickstart_run
from ser_core.files import write_json
from ser_core.training.runs import RunFolder, read_json

REPO_ROOT = Path(__file__).resolve().parents[1]
AUTOSTART_OFF = "SER_NO_AUTOSTART"  # set to 1 (tests) and the first launch waits for the button


@dataclass(frozen=True)
class Job:
    """One launched `ser` command."""

    folder: Path
    command: list[str]
    pid: int
    started: float
    meta: dict = field(default_factory=dict)  # what the page needs to describe it (e.g. the sweep grid)

    @property
    def args(self) -> list[str]:
        """The `ser` arguments (the command without `python -m ser_core.cli`)."""
        return self.command[3:]

    @property
    def log_path(self) -> Path:
        return self.folder / "job.log"

    def running(self) -> bool:
        return _alive(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (our own finished children are reaped, not counted as zombies)."""
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False  # it was our child and has exited
    except ChildProcessError:
        pass  # not our child (another server process started it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against a recycled pid where /proc says what runs there
        try:
            return b"ser_core.cli" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def launch(args: list[str], folder: str | Path, meta: dict | None = None) -> Job:
    """Start `python -m ser_core.cli ARGS` in its own session, logging to FOLDER/job.log."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "ser_core.cli", *map(str, args)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(folder / "job.log", "ab") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    job = Job(folder, command, process.pid, time.time(), dict(meta or {}))
    write_json(folder / "job.json", {"command": command, "pid": job.pid, "started": job.started, "meta": job.meta})
    return job


def find_job(folder: str | Path) -> Job | None:
    """The last job launched in `folder`, or None."""
    path = Path(folder) / "job.json"
    if not path.is_file():
        return None
    record = read_json(path)
    return Job(Path(folder), record["command"], record["pid"], record["started"], record.get("meta", {}))


def active_jobs(root: str | Path) -> list[Job]:
    """Running jobs in the folders directly under `root` (runs or sweeps), newest first."""
    root = Path(root)
    found = [find_job(p.parent) for p in root.glob("*/job.json")] if root.is_dir() else []
    return sorted((job for job in found if job and job.running()), key=lambda job: job.started, reverse=True)


def stop(job: Job) -> None:
    """SIGTERM to the job's process group: the trainer finishes its step, saves folds and exits."""
    try:
        os.killpg(job.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def wait(job: Job, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the job to end; True if it has."""
    deadline = time.monotonic() + timeout
    while job.running():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# ---------------------------------------------------------------- runs


def run_state(run: RunFolder) -> str:
    """running / finished / stopped / failed, or "interrupted" for a run whose process died mid-way."""
    status = run.status() or {}
    state = status.get("state", "unknown")
    if state == "running" and not _alive(status.get("pid", -1)):
        job = find_job(run.path)
        return "running" if job and job.running() else "interrupted"
    return state


def write_spec(folder: Path, spec: RunSpec, manifest: str | Path) -> Path:
    """FOLDER/spec.json: the resolved settings a job is launched with (`ser ... --config`), and its manifest."""
    path = Path(folder) / "spec.json"
    write_json(path, spec.to_dict() | {"manifest": str(manifest)})
    return path


def start_train(manifest: str | Path, out: str | Path, spec: RunSpec, executor: list[str] = ()) -> Job:
    """Launch `ser train --config` with `spec` into folder `out` (which must not hold a run yet);
    `executor`: flags saying where the folds run (e.g. --executor ray), kept for Resume."""
    if RunFolder(out).exists():
        raise FileExistsError(f"{out} already holds a run; pick another name")
    config = write_spec(Path(out), spec, manifest)
    return launch(["train", "-m", str(manifest), "--config", str(config), "--out", str(out), "--quiet", *executor],
                  out, meta={"executor": list(executor)})


def resume_train(run: RunFolder) -> Job:
    """Relaunch a stopped or interrupted run from its own config.json; finished folds are kept."""
    config = run.config()
    if not config.get("manifest"):
        raise ValueError(f"{run.path}: config.json names no manifest, so the run cannot be resumed here")
    try:
        RunSpec.from_dict(config)
    except ValueError as exc:
        raise ValueError(f"{run.path}: {exc}") from None
    last = find_job(run.path)
    executor = last.meta.get("executor", []) if last else []  # where it ran before, if the app launched it
    return launch(["train", "--config", str(run.config_path), "--out", str(run.path), "--resume", "--quiet",
                   *executor], run.path, meta={"executor": executor})


def start_sweep(manifest: str | Path, out: str | Path, k_seg: list[int], k_mel: list[int], spec: RunSpec,
                k_frame: int = 3, executor: list[str] = (), params: int | None = None) -> Job:
    """Launch `ser sweep` over the k_seg x k_mel grid of cnn3d models of `spec` into folder `out`
    (`params`: every cell scaled to about that many parameters)."""
    if not k_seg or not k_mel:
        raise ValueError(f"choose at least one k_seg and one k_mel, got {k_seg}, {k_mel}")
    config = write_spec(Path(out), spec, manifest)
    args = [
        "sweep", "-m", str(manifest), "--out", str(out), "--config", str(config),
        "--k-seg", ",".join(map(str, k_seg)), "--k-mel", ",".join(map(str, k_mel)), "--k-frame", k_frame, "--quiet",
        *executor, *(["--params", str(params)] if params else []),
    ]
    return launch(args, out, meta={"k_seg": list(k_seg), "k_mel": list(k_mel), "k_frame": k_frame,
                                   "params": params})


def relaunch(job: Job) -> Job:
    """Start a finished or stopped job's command again in its folder (a sweep skips its finished cells)."""
    if job.running():
        raise ValueError(f"{job.folder} is still running (pid {job.pid})")
    return launch(job.args, job.folder, job.meta)


# ---------------------------------------------------------------- first launch


def quickstart_folder() -> Path:
    return jobs_dir() / "quickstart"


def quickstart_job() -> Job | None:
    return find_job(quickstart_folder())


def start_quickstart(only_first: bool = False) -> Job | None:
    """Launch `ser quickstart` unless one is running (across sessions and server processes).

    only_first: start only if no quickstart was ever launched in this $SER_HOME, so that
    a failed first launch is shown rather than retried on every rerun.
    """
    folder = quickstart_folder()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one launcher at a time; released when the file closes
        job = quickstart_job()
        if job is not None and (job.running() or only_first):
            return job
        if quickstart_run().results() is not None:
            return job
        return launch(["quickstart", "--quiet"], folder)


def autostart_enabled() -> bool:
    return os.environ.get(AUTOSTART_OFF, "") in ("", "0")

