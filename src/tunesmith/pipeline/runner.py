"""Running a pipeline: plan each stage's datums by key, reuse what the store holds, do the rest
(per-file work on an executor: a local process pool or Ray tasks; aggregate work here), record
failures and provenance, and show each stage's outputs; `status` plans without doing anything,
`why` walks an output back to the input files it came from, `watch` runs when the input changes."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tunesmith.corpus import list_files, relative_name
from tunesmith.errors import UserError, info, warn
from tunesmith.pipeline.spec import Spec, StageSpec, read_spec
from tunesmith.pipeline.stages import AGGREGATE, KINDS, RUN, Outcome, process, worker_setup
from tunesmith.media.files import content_hash
from tunesmith.pipeline.store import Store, digest_of
from tunesmith.progress import Bar


@dataclass
class Datum:
    """A file (or a run folder) flowing from one stage to the next: its name, the digest of its
    content, where it is, the key of the object holding it and the names it came from."""

    name: str
    digest: str
    path: Path
    key: str = ""
    sources: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """A stage's count of datums: new (made in this run), cached (reused), failed (in this run);
    in `status`: done, new (to be made) and failed (last time, to be tried again)."""

    stage: str
    new: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    waiting: bool = False  # status: an earlier stage has work to do first, so this one's is not known

    def line(self) -> str:
        return f"{self.stage}: {self.new} new, {self.cached} cached, {self.failed} failed"

    def status_line(self) -> str:
        line = f"{self.stage}: {self.cached} done, {self.new} new, {self.failed} failed"
        return line + (" (and what the stages before it will make)" if self.waiting else "")


# -- executors ----------------------------------------------------------------------------------

Job = tuple[str, dict[str, Any], str, Path]  # kind, settings, datum name, input file
IN_FLIGHT = 2  # jobs handed out per worker at a time (the files' bytes are read as they go)


def in_flight(jobs: list[Job], slots: int, submit: Callable[[Job], Any],
              finished: Callable[[list[Any]], list[tuple[Any, Outcome]]]) -> Iterator[tuple[int, Outcome]]:
    """(index, outcome) of every job as it finishes, at most `slots` handed out at a time (so the
    input files' bytes are read as they go): `submit` hands a job out, `finished` waits for at
    least one of the handles given and returns (handle, outcome) of those done."""
    todo, running = iter(enumerate(jobs)), {}
    while True:
        for index, job in itertools.islice(todo, max(0, slots - len(running))):
            running[submit(job)] = index
        if not running:
            return
        for handle, outcome in finished(list(running)):
            yield running.pop(handle), outcome


class LocalExecutor:
    """A process pool on this machine (spawned workers, one thread each); a single datum is done
    in this process, as a pool's start would cost more than the work."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(os.cpu_count() or 1, 8))

    def run(self, jobs: list[Job]) -> Iterator[tuple[int, Outcome]]:
        if len(jobs) == 1 or self.workers == 1:
            for index, (kind, settings, name, path) in enumerate(jobs):
                yield index, process(kind, settings, name, path.read_bytes())
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(jobs)), context, initializer=worker_setup) as pool:
            yield from in_flight(jobs, IN_FLIGHT * self.workers,
                                 lambda job: pool.submit(process, *job[:3], job[3].read_bytes()),
                                 lambda futures: [(f, f.result())
                                                  for f in wait(futures, return_when=FIRST_COMPLETED)[0]])

    def close(self) -> None:
        pass


class RayExecutor:
    """Ray tasks, on the cluster at `address` or on a local Ray started for the run (and stopped
    after it). A task gets the input file's bytes and returns the output's, so the nodes need no
    shared folder."""

    def __init__(self, address: str | None, store: Path):
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray: run make install, or pip install 'ray>=2.9'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if address:
                options["address"] = address
            else:
                scratch = store / "tmp" / "ray"
                if len(str(scratch)) < 60:  # Ray's socket paths must stay under 107 characters
                    scratch.mkdir(parents=True, exist_ok=True)
                    options["_temp_dir"] = str(scratch)
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise UserError(f"cannot start or reach Ray{f' at {address}' if address else ''} ({err})") from None
        self.task = ray.remote(num_cpus=1)(process)

    def run(self, jobs: list[Job]) -> Iterator[tuple[int, Outcome]]:
        slots = max(2, int(self.ray.cluster_resources().get("CPU", 2)) * IN_FLIGHT)
        yield from in_flight(jobs, slots, lambda job: self.task.remote(*job[:3], job[3].read_bytes()),
                             lambda refs: [(ref, self.ray.get(ref)) for ref in self.ray.wait(refs, num_returns=1)[0]])

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(name: str, address: str | None, store: Path, workers: int | None = None):
    if workers is not None and workers < 1:
        raise UserError(f"{workers} workers: give 1 or more", option="workers")
    if name == "local":
        if address:
            raise UserError("an address is for the ray executor; add --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, store)
    raise UserError(f"executor {name!r}: choose local or ray")


# -- planning and running -----------------------------------------------------------------------

def input_datums(spec: Spec, accepts: tuple[str, ...]) -> list[Datum]:
    """The input folder's files that the first stage takes (a file given alone is its own set)."""
    root = spec.input
    if not root.exists():
        raise UserError(f"no input folder {root}; make it and put files in it, or give another --input")
    files = list_files(root, accepts)
    skipped = len(list_files(root)) - len(files) if root.is_dir() else 0
    if skipped:
        info(f"{skipped} files in {root} are not {'/'.join(accepts)} files: left out")
    datums = []
    for path in files:
        try:
            datums.append(Datum(relative_name(path, root, str(root)) if root.is_dir() else path.name,
                                content_hash(path), path))
        except UserError as err:
            warn(f"skipped: {err}")
    return datums


def stage_identity(stage: StageSpec) -> dict[str, Any]:
    kind = KINDS[stage.kind]
    return {"kind": stage.kind, "version": kind.version, "settings": stage.settings}


def output_name(name: str, suffix: str) -> str:
    return str(Path(name).with_suffix(suffix)) if suffix != RUN else RUN


class Pipeline:
    """One run (or, with `dry`, one status) of a spec against its store."""

    def __init__(self, spec: Spec, executor: Any = None, dry: bool = False):
        self.spec, self.executor, self.dry = spec, executor, dry
        self.store = Store(spec.store)
        self.previous = self.store.state()["stages"]
        self.state: dict[str, Any] = {"spec": str(spec.path), "input": str(spec.input), "stages": {}}
        self.failures: list[dict[str, Any]] = []

    def run(self) -> list[Summary]:
        datums = input_datums(self.spec, KINDS[self.spec.stages[0].kind].accepts)
        self.state["inputs"] = {d.name: d.digest for d in datums}
        summaries, waiting = [], False
        for stage in self.spec.stages:
            began = time.perf_counter()
            step = self.per_file if KINDS[stage.kind].per_file else self.aggregate
            datums, summary = step(stage, datums, waiting)
            summary.seconds = round(time.perf_counter() - began, 3)
            summary.waiting = waiting
            waiting = waiting or (self.dry and (summary.new > 0))
            summaries.append(summary)
            if not self.dry:
                self.state["stages"][stage.name] = {
                    "kind": stage.kind, "datums": {d.name: {"key": d.key, "digest": d.digest, "from": d.sources}
                                                   for d in datums}}
                self.show(stage.name, datums)
        if not self.dry:
            self.state["finished"] = datetime.now().isoformat(timespec="seconds")
            self.store.save_state(self.state)
        return summaries

    def show(self, stage: str, datums: list[Datum]) -> None:
        """Update out/STAGE when the stage's datums differ from the last run's."""
        before = self.previous.get(stage, {}).get("datums", {})
        now = {d.name: d.key for d in datums}
        if {name: entry["key"] for name, entry in before.items()} != now or not (self.store.root / "out" / stage).exists():
            self.store.show(stage, {d.name: d.path for d in datums})

    def record(self, stage: StageSpec, key: str, sources: list[Datum], outputs: list[dict[str, str]],
               seconds: float) -> dict[str, Any]:
        return {"stage": stage.name, **stage_identity(stage), "key": key, "seconds": round(seconds, 3),
                "made": datetime.now().isoformat(timespec="seconds"),
                "inputs": [{"name": d.name, "digest": d.digest, "key": d.key} for d in sources], "outputs": outputs}

    def per_file(self, stage: StageSpec, datums: list[Datum], waiting: bool) -> tuple[list[Datum], Summary]:
        identity, suffix = stage_identity(stage), KINDS[stage.kind].makes(stage.settings)
        summary = Summary(stage.name)
        keys = [digest_of(identity, d.digest) for d in datums]
        made: dict[int, Datum] = {}
        pending: dict[str, list[int]] = {}  # key -> the datums with that content (the work is done once)
        for index, (datum, key) in enumerate(zip(datums, keys)):
            found = self.store.record(key)
            if found is not None:
                out = found["outputs"][0]
                made[index] = Datum(output_name(datum.name, suffix), out["digest"], self.store.folder(key) / out["file"],
                                    key, [datum.name])
                summary.cached += 1
            elif self.dry and (failure := self.store.failure(key)) is not None:
                summary.failed += 1
                self.failures.append(failure)
            else:
                pending.setdefault(key, []).append(index)
        if self.dry:
            summary.new = sum(map(len, pending.values()))
            return [made[i] for i in sorted(made)], summary
        work = list(pending.values())
        jobs = [(stage.kind, stage.settings, datums[same[0]].name, datums[same[0]].path) for same in work]
        with Bar(stage.name, len(jobs), "file", silent=not jobs) as bar:
            for position, outcome in self.executor.run(jobs) if jobs else ():
                same = work[position]
                datum, key = datums[same[0]], keys[same[0]]
                if outcome.ok:
                    name = output_name(datum.name, suffix)
                    file_name = f"{Path(name).stem}{suffix}"
                    digest = hashlib.sha1(outcome.data).hexdigest()
                    record = self.record(stage, key, [datum], [{"name": name, "file": file_name, "digest": digest}],
                                         outcome.seconds)
                    path = self.store.put(key, file_name, outcome.data, record)
                    for index in same:
                        made[index] = Datum(output_name(datums[index].name, suffix), digest, path, key,
                                            [datums[index].name])
                    summary.new += len(same)
                else:
                    for index in same:
                        self.failed(stage, key, datums[index], outcome.error)
                    summary.failed += len(same)
                bar.update(1)
        return [made[i] for i in sorted(made)], summary

    def failed(self, stage: StageSpec, key: str, datum: Datum | None, error: str) -> None:
        name = datum.name if datum else "(all)"
        warn(f"{stage.name}: {name} failed: {error}")
        entry = {"stage": stage.name, "name": name, "key": key, "error": error,
                 "when": datetime.now().isoformat(timespec="seconds")}
        self.store.fail(key, entry)
        self.failures.append(entry)

    def aggregate(self, stage: StageSpec, datums: list[Datum], waiting: bool) -> tuple[list[Datum], Summary]:
        kind, summary = KINDS[stage.kind], Summary(stage.name)
        if waiting:
            summary.new = 1
            return [], summary
        if not datums:
            if not self.dry:
                warn(f"{stage.name}: nothing to work on (no {'/'.join(kind.accepts)} from the stage before)")
            return [], summary
        key = digest_of(stage_identity(stage), sorted((d.name, d.digest) for d in datums))
        found = self.store.record(key)
        if found is None:
            if self.dry:
                if (failure := self.store.failure(key)) is not None:
                    summary.failed = 1
                    self.failures.append(failure)
                else:
                    summary.new = 1
                return [], summary
            previous = self.previous.get(stage.name, {}).get("datums", {})
            last = next(iter(previous.values()), {}).get("key")  # the stage's last object (fine-tuning)
            folder = self.store.begin(key, keep=stage.kind == "train")
            began = time.perf_counter()
            try:
                names = AGGREGATE[stage.kind](stage.settings, [(d.name, d.path) for d in datums], folder,
                                              self.store.folder(last) / RUN if last else None)
            except UserError as err:
                self.failed(stage, key, None, str(err))
                summary.failed = 1
                return [], summary
            outputs = [{"name": name, "file": name, "digest": key if name == RUN else content_hash(folder / name)}
                       for name in names]
            found = self.record(stage, key, datums, outputs, time.perf_counter() - began)
            self.store.finish(key, found)
            summary.new = 1
        else:
            summary.cached = 1
        sources = [d.name for d in datums]
        return [Datum(out["name"], out["digest"], self.store.folder(key) / out["file"], key, sources)
                for out in found["outputs"]], summary


# -- the verbs ----------------------------------------------------------------------------------

@dataclass
class RunResult:
    store: Path
    stages: list[Summary]
    failures: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"store": str(self.store), "stages": [asdict(s) for s in self.stages], "failures": self.failures}


def run_pipeline(spec_path: str | Path, input: str | Path | None = None, store: str | Path | None = None,
                 executor: str = "local", address: str | None = None, workers: int | None = None) -> RunResult:
    """Run the spec: only new, changed or failed datums are worked on; one summary per stage."""
    spec = read_spec(spec_path, input, store)
    pipeline = Pipeline(spec)
    with pipeline.store.locked():
        chosen = make_executor(executor, address, spec.store, workers)
        pipeline.executor = chosen
        try:
            stages = pipeline.run()
        finally:
            chosen.close()
    return RunResult(spec.store, stages, pipeline.failures)


def pipeline_status(spec_path: str | Path, input: str | Path | None = None,
                    store: str | Path | None = None) -> RunResult:
    """What a run would do now: per stage, datums done, new and failed (last time); nothing is run."""
    spec = read_spec(spec_path, input, store)
    pipeline = Pipeline(spec, dry=True)
    return RunResult(spec.store, pipeline.run(), pipeline.failures)


def why(spec_path: str | Path, output: str | Path, input: str | Path | None = None,
        store: str | Path | None = None) -> dict[str, Any]:
    """Where an output of the last run came from: its stage, name and key, each stage back to the
    input, and the input files (with their digests) that it depends on."""
    spec = read_spec(spec_path, input, store)
    state = Store(spec.store).state()
    stages = [s.name for s in spec.stages if s.name in state["stages"]]
    stage, name = locate(spec.store, stages, output)
    chain, wanted = [], {name}
    for position in range(stages.index(stage), -1, -1):
        datums = state["stages"][stages[position]]["datums"]
        entries = {n: datums[n] for n in sorted(wanted) if n in datums}
        chain.append({"stage": stages[position], "datums": [{"name": n, "key": e["key"], "from": e["from"]}
                                                            for n, e in entries.items()]})
        wanted = {source for e in entries.values() for source in e["from"]}
    inputs = state.get("inputs", {})
    return {"output": f"{stage}/{name}", "chain": chain,
            "inputs": [{"name": n, "digest": inputs.get(n, "")} for n in sorted(wanted)]}


def locate(store: Path, stages: list[str], output: str | Path) -> tuple[str, str]:
    """(stage, datum name) of an output given as STAGE/NAME or as a path in the store's out/."""
    text = str(output)
    path = Path(text).expanduser()
    views = (store / "out").resolve()
    if path.exists() or path.is_symlink():
        absolute = path.parent.resolve() / path.name
        if views in absolute.parents:
            text = absolute.relative_to(views).as_posix()
    stage, _, name = text.partition("/")
    if stage not in stages or not name:
        raise UserError(f"no output {output} in {store}: give STAGE/NAME (stages: {', '.join(stages) or 'none yet'}) "
                        f"or a file under {store / 'out'}")
    return stage, name


def watch(spec_path: str | Path, input: str | Path | None = None, store: str | Path | None = None,
          executor: str = "local", address: str | None = None, interval: float = 5.0,
          report: Callable[[RunResult], None] | None = None, max_runs: int | None = None) -> int:
    """Run the spec now and again whenever the input folder's files appear, change or go
    (checked every `interval` seconds), until interrupted or `max_runs` runs; returns the runs."""
    spec = read_spec(spec_path, input, store)
    last, runs = None, 0
    while max_runs is None or runs < max_runs:
        now = snapshot(spec.input)
        if now != last:
            result = run_pipeline(spec_path, input, store, executor, address)
            runs += 1
            last = now
            if report:
                report(result)
        else:
            time.sleep(interval)
    return runs


def snapshot(root: Path) -> list[tuple[str, int, int]]:
    """The files below root with their sizes and modification times (what watch compares)."""
    found = []
    for path in list_files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        found.append((str(path), st.st_size, st.st_mtime_ns))
    return found
