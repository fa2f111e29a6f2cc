"""The studio's jobs: one worker thread runs long work (generating, rendering) one job at a time,
keeps each job's progress and messages for the page, and cancels a job from inside its progress."""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.errors import LOG, UserError
from tunesmith.progress import Progress

FINISHED = ("done", "failed", "cancelled")
SERVER_LOG = logging.getLogger("uvicorn.error")  # where the server's own errors go, tracebacks included


class Cancelled(BaseException):
    """Raised inside a job by its progress listener once the job is cancelled. A BaseException, as
    Ctrl+C is: the library's cleanup (temporary files removed) runs and no `except Exception` keeps it."""


class Job:
    """One piece of work asked for in the page: `work(job)` does it and returns its results (dicts
    for the page), writing its files into its own folder under `results` (results/JOB), which is
    removed if it fails or is cancelled."""

    def __init__(self, title: str, results: Path, work: Callable[[Job], list[dict[str, Any]]]):
        self.id = uuid.uuid4().hex[:12]
        self.title, self.folder, self.work = title, results / self.id, work
        self.state = "queued"
        self.progress: dict[str, Any] | None = None
        self.messages: list[str] = []
        self.error: str | None = None
        self.results: list[dict[str, Any]] = []
        self.version = 0  # bumped at every change, so the event stream sends only news
        self.cancel_asked = threading.Event()
        self.lock = threading.Lock()

    def listen(self, event: Progress) -> None:
        """The progress listener of the job's library calls: keeps the latest event, and stops the
        work by raising Cancelled once cancel is asked."""
        self.check()
        shown = event.done * event.scale
        total = None if event.total is None else event.total * event.scale
        with self.lock:
            self.progress = {"task": event.task, "done": shown, "total": total, "unit": event.unit,
                             "eta": event.eta, "note": event.note, "stats": event.stats}
            self.version += 1

    def check(self) -> None:
        """Raise Cancelled if cancel was asked (between the steps of a job's work)."""
        if self.cancel_asked.is_set():
            raise Cancelled

    def say(self, message: str) -> None:
        with self.lock:
            self.messages = (self.messages + [message])[-20:]
            self.version += 1

    def finish(self, state: str, error: str | None = None, results: list[dict[str, Any]] | None = None) -> None:
        with self.lock:
            self.state, self.error, self.results = state, error, results or []
            self.version += 1

    def start(self) -> None:
        with self.lock:
            self.state = "running"
            self.version += 1

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"id": self.id, "title": self.title, "state": self.state, "progress": self.progress,
                    "messages": list(self.messages), "error": self.error, "results": list(self.results),
                    "version": self.version}


class JobMessages(logging.Handler):
    """The library's messages (`wrote ...`, warnings) said while a job runs, shown with the job."""

    def __init__(self, job: Job):
        super().__init__()
        self.job, self.thread = job, threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            kind = "warning: " if record.levelno >= logging.WARNING else ""
            self.job.say(kind + record.getMessage())


class JobRunner:
    """The queue of jobs and the one thread that works through it (the machine's cores go to the
    model, one job at a time)."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}
        self.waiting: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self.work_through, name="studio-jobs", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        self.jobs[job.id] = job
        self.waiting.put(job)
        return job

    def cancel(self, job: Job) -> None:
        """Ask a job to stop: a queued one never starts, a running one stops at its next progress."""
        job.cancel_asked.set()

    def close(self) -> None:
        """Cancel what is left and let the worker thread end."""
        for job in list(self.jobs.values()):
            if job.state not in FINISHED:
                self.cancel(job)
        self.waiting.put(None)

    def work_through(self) -> None:
        while (job := self.waiting.get()) is not None:
            self.run(job)

    def run(self, job: Job) -> None:
        messages = JobMessages(job)
        LOG.addHandler(messages)
        try:
            job.check()
            job.start()
            job.folder.mkdir(parents=True, exist_ok=True)
            results = job.work(job)
            job.check()
        except Cancelled:
            job.finish("cancelled", "cancelled")
        except UserError as err:
            job.finish("failed", str(err))
        except Exception as err:
            SERVER_LOG.exception(f"studio job {job.id} ({job.title}) failed")
            said = (str(err).splitlines() or [""])[0]
            job.finish("failed", f"unexpected error ({type(err).__name__}{': ' + said if said else ''}); "
                       "the studio's terminal shows where")
        else:
            job.finish("done", results=results)
        finally:
            LOG.removeHandler(messages)
            if job.state != "done":
                shutil.rmtree(job.folder, ignore_errors=True)  # no half-made results left to list
