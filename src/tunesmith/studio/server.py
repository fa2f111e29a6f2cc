"""The studio's web server: a FastAPI app whose routes call the library API (long work through the
job runner, its progress as Server-Sent Events) and serve the static page; uploads are stored
under generated names and files are served by id only, from inside the studio folder."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunesmith import api
from tunesmith.errors import UserError
from tunesmith.studio.jobs import FINISHED, SERVER_LOG, Job, JobRunner

UPLOAD_LIMIT = 20 * 1024 * 1024  # bytes of one uploaded MIDI file or recording
STATIC = Path(__file__).resolve().parent / "static"
PRIMERS = Path(api.__file__).resolve().parent / "primers"  # the bundled MIDI openings, offered as sources
PLAYBACK_RATE = 22050  # MIDI results are rendered for the page's player at this rate
EVENTS_EVERY = 0.1  # seconds between looks at a job for the event stream
# nothing the page loads may come from another host
CONTENT_POLICY = ("default-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
                  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
KEPT = "job.json"  # in a finished job's folder: its title, results and files, read again when the studio restarts
SIGNATURES = ((b"MThd", ".mid"), (b"RIFF", ".wav"), (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"),
              (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"), (b"\xff\xf2", ".mp3"), (b"\x1aE\xdf\xa3", ".webm"),
              (b"FORM", ".aiff"))
MEDIA_TYPES = {".mid": "audio/midi", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
               ".mp3": "audio/mpeg", ".txt": "text/plain; charset=utf-8"}
RECORDINGS = "a MIDI file or a recording (WAV, FLAC, OGG, MP3, WebM)"


def kind_of(path: Path) -> str:
    """What a result file is for the page: midi, text or audio."""
    return {".mid": "midi", ".txt": "text"}.get(path.suffix, "audio")


def slug(text: str) -> str:
    """Text as a file name's part: runs of anything but letters, digits, dots and dashes become a dash."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-.") or "result"


def sniff(data: bytes) -> str | None:
    """The suffix of what the bytes are by their first bytes (not by the name they came with)."""
    for signature, suffix in SIGNATURES:
        if data.startswith(signature):
            return suffix
    return ".m4a" if data[4:8] == b"ftyp" else None


class GenerateForm(BaseModel):
    model: str
    length: int | None = Field(None, ge=1, le=200_000)
    seconds: float | None = Field(None, gt=0, le=600)
    temperature: float = Field(1.0, gt=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    num_outputs: int = Field(1, ge=1, le=16)
    seed: int | None = None
    primer: str | None = Field(None, max_length=10_000)  # a source's id (MIDI, audio), or text to begin with
    bars: int | None = Field(None, ge=1, le=256)
    pitch: int | None = Field(None, ge=0, le=127)
    similar_to: str | None = None  # a MIDI source's id, for a MusicVAE


class InterpolateForm(BaseModel):
    model: str
    first: str
    last: str
    steps: int = Field(5, ge=2, le=16)


class MixForm(BaseModel):
    model: str
    first: str
    second: str
    weight: float = Field(0.5, ge=0, le=1)
    seed: int | None = None


class RenderForm(BaseModel):
    source: str
    program: str | None = None  # a General MIDI program, by number or name
    effects: str = "none"
    instrument: str | None = None  # a GANSynth model's name


class Studio:
    """What the server knows: the runs folder, the studio folder (uploads/, results/JOB/), the
    uploaded and bundled sources by id, the result files by id, and the job runner."""

    def __init__(self, runs_dir: str | Path, folder: str | Path):
        from tunesmith.media.files import make_folder

        self.runs_dir = Path(runs_dir)
        self.folder = make_folder(Path(folder).expanduser()).resolve()
        self.uploads = make_folder(self.folder / "uploads")
        self.results = make_folder(self.folder / "results")
        self.sources: dict[str, dict[str, Any]] = {}  # id -> name, kind (midi, audio), path: uploads, primers
        self.files: dict[str, tuple[Path, Job, str]] = {}  # a result file's id -> path, job, download name
        self.described: dict[tuple[str, int], dict[str, Any]] = {}  # api.describe_model by (run, config's mtime)
        self.runner = JobRunner()
        self.restore()
        for path in sorted(PRIMERS.glob("*.mid")):
            self.sources[f"p-{path.stem}"] = {"name": f"{path.name} (bundled)", "stem": path.stem, "kind": "midi",
                                              "path": path}

    # -- models and runs --

    def catalogue(self) -> dict[str, dict[str, Any]]:
        """The bundled models and the runs in the runs folder, by the name the page shows, each with
        its path and what it makes and takes (api.describe_model); a damaged run says why."""
        rows = [dict(row, path=row["run"]) for row in api.list_bundled_models()]
        if self.runs_dir.is_dir():
            rows += [dict(row, path=row["run"]) for row in api.list_runs(self.runs_dir)]
        found = {}
        for row in rows:
            try:
                row.update(self.describe(row["path"]))
            except (UserError, OSError, KeyError, ValueError) as err:  # a damaged run is listed, not fatal
                row["error"] = str(err) if isinstance(err, UserError) else f"{row['run']} cannot be opened ({err})"
            found[row["run"]] = dict(row, name=Path(row["run"]).name)
        return found

    def describe(self, name: str) -> dict[str, Any]:
        """api.describe_model, asked again only when the run's config changes."""
        from tunesmith import runs

        config = runs.open_run(name) / runs.CONFIG
        key = (str(config), config.stat().st_mtime_ns)
        if key not in self.described:
            self.described[key] = api.describe_model(name)
        return self.described[key]

    def model(self, name: str) -> dict[str, Any]:
        row = self.catalogue().get(name)
        if row is None:
            raise HTTPException(404, f"no model named {name}; choose one of the studio's models")
        if "error" in row:
            raise UserError(row["error"])
        return row

    # -- sources: what a job reads --

    def source(self, source_id: str, kind: str) -> Path:
        """The file of an upload, a bundled primer or a finished result, of `kind` (midi, audio)."""
        return self.find_source(source_id, kind)["path"]

    def find_source(self, source_id: str, kind: str) -> dict[str, Any]:
        """An upload, a bundled primer or a finished result of `kind` (midi, audio): its path, name
        and stem (what a file made from it is called after)."""
        found = self.sources.get(source_id)
        if found is None and source_id in self.files:
            path, job, _ = self.files[source_id]
            found = ({"path": path, "name": path.name, "stem": path.stem, "kind": kind_of(path)}
                     if job.state == "done" else None)
        if found is None:
            raise HTTPException(404, f"no upload or result with id {source_id}; upload the file again")
        if found["kind"] != kind:
            wanted = "a MIDI file" if kind == "midi" else "a recording"
            raise UserError(f"{found['name']} is not {wanted}; choose or upload {wanted}")
        return found

    def source_list(self) -> list[dict[str, Any]]:
        listed = [{"id": key, "name": row["name"], "kind": row["kind"]} for key, row in self.sources.items()]
        return listed + [{"id": result["id"], "name": result["title"], "kind": result["kind"]}
                         for result in self.result_list() if result["kind"] in ("midi", "audio")]

    def store_upload(self, name: str, data: bytes) -> dict[str, Any]:
        """An uploaded file checked and kept under a generated name: MIDI as it came, a recording
        decoded (ffmpeg reads WebM/OGG from the browser's recorder) and kept as mono WAV."""
        from tunesmith.media.audio import decode_audio, to_mono, write_audio
        from tunesmith.media.files import write_atomic

        shown = Path(name.replace("\\", "/")).name[:80] or "the upload"
        if not data:
            raise UserError(f"{shown} is empty; give {RECORDINGS}")
        suffix = sniff(data)
        if suffix is None:
            raise UserError(f"{shown} is not {RECORDINGS}; give one of those")
        upload_id = f"u-{uuid.uuid4().hex[:12]}"
        raw = self.uploads / f"{upload_id}{suffix}"
        kept = raw if suffix == ".mid" else self.uploads / f"{upload_id}.wav"
        write_atomic(raw, data)
        try:
            if suffix == ".mid":
                notes = api.midi_notes(raw)
                if not notes["notes"]:
                    raise UserError(f"{shown} holds no notes; give a MIDI file with notes")
                kind, about = "midi", f"{len(notes['notes'])} notes, {notes['seconds']:.1f} s"
            else:
                samples, rate = decode_audio(raw)
                mono = to_mono(samples)
                if not len(mono):
                    raise UserError(f"{shown} holds no audio")
                write_audio(kept, mono, rate)
                kind, about = "audio", f"{len(mono) / rate:.1f} s"
        except Exception as err:
            kept.unlink(missing_ok=True)
            if not isinstance(err, UserError):
                SERVER_LOG.exception(f"reading the upload {shown}")
                err = UserError(f"{shown} could not be read ({type(err).__name__}); give {RECORDINGS}")
            raise UserError(str(err).replace(str(raw), shown)) from None
        finally:
            if raw != kept:
                raw.unlink(missing_ok=True)
        self.sources[upload_id] = {"name": shown, "stem": slug(Path(shown).stem), "kind": kind, "path": kept}
        return {"id": upload_id, "name": shown, "kind": kind, "about": about}

    # -- jobs and their results --

    def submit(self, title: str, work) -> dict[str, Any]:
        def work_and_keep(job: Job) -> list[dict[str, Any]]:
            results = work(job)
            self.keep(job, results)
            return results

        return self.runner.submit(Job(title, self.results, work_and_keep)).to_dict()

    def keep(self, job: Job, results: list[dict[str, Any]]) -> None:
        """Write what the page shows of a finished job beside its files, for the studio's next start."""
        from tunesmith.media.files import write_atomic

        files = {key: [path.name, download] for key, (path, owner, download) in self.files.items() if owner is job}
        kept = {"title": job.title, "results": results, "files": files}
        write_atomic(job.folder / KEPT, json.dumps(kept).encode("utf-8"))

    def restore(self) -> None:
        """The jobs finished before the studio last stopped, oldest first, with their files; a job
        whose record is damaged is left out with a warning."""
        from tunesmith.errors import warn

        kept = sorted(self.results.glob(f"*/{KEPT}"), key=lambda path: path.stat().st_mtime)
        for record in kept:
            try:
                found = json.loads(record.read_text(encoding="utf-8"))
                job = Job(found["title"], self.results, lambda job: [])
                job.id, job.folder, job.state, job.results = record.parent.name, record.parent, "done", found["results"]
                for key, (name, download) in found["files"].items():
                    self.files[key] = (record.parent / Path(name).name, job, download)
            except (OSError, ValueError, KeyError, TypeError) as err:
                warn(f"skipped the studio's earlier results in {record.parent} ({err})")
                continue
            self.runner.jobs[job.id] = job

    def job(self, job_id: str) -> Job:
        job = self.runner.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job with id {job_id}")
        return job

    def collect(self, job: Job, paths: list[Path], origin: str) -> list[dict[str, Any]]:
        """The page's view of each file a job wrote: a MIDI file's notes and its rendering for the
        player (or why there is none), a sound's waveform, a text's words."""
        results = []
        for path in paths:
            job.check()
            kind = kind_of(path)
            result = {"id": f"r-{uuid.uuid4().hex[:12]}", "kind": kind, "name": path.name,
                      "title": f"{origin} · {path.name}"}
            self.files[result["id"]] = (path, job, f"{slug(origin)}-{path.name}")
            if kind == "midi":
                result["notes"] = api.midi_notes(path)
                try:
                    played = api.render([path], path.parent, sample_rate=PLAYBACK_RATE, progress=job.listen)[0]
                except UserError as err:
                    result["player_error"] = f"no SoundFont player: {err}"
                else:
                    result["audio"] = f"r-{uuid.uuid4().hex[:12]}"
                    self.files[result["audio"]] = (played, job, f"{slug(origin)}-{played.name}")
            elif kind == "audio":
                result["audio"] = result["id"]
                result["waveform"] = api.waveform_peaks(path)
            else:
                result["text"] = path.read_text(encoding="utf-8", errors="replace")
            results.append(result)
        return results

    def result_list(self) -> list[dict[str, Any]]:
        """The results of finished jobs, newest first."""
        jobs = [job for job in list(self.runner.jobs.values()) if job.state == "done"]
        return [result for job in reversed(jobs) for result in job.results]

    def result_file(self, file_id: str) -> Path:
        """A result's file by its id: only a finished job's, only inside the studio folder."""
        found = self.files.get(file_id)
        if found is None or found[1].state != "done":
            raise HTTPException(404, "no such result")
        path = found[0].resolve()
        if not path.is_relative_to(self.results) or not path.is_file():
            raise HTTPException(404, "no such result")
        return path

    def generate(self, form: GenerateForm) -> dict[str, Any]:
        from tunesmith.generation.lengths import Length
        from tunesmith.generation.request import SampleRequest
        from tunesmith.generation.strategies import Strategy
        from tunesmith.media.domains import SampleOptions

        row = self.model(form.model)
        primer = form.primer or None
        if primer and row["makes"] != ".txt":
            primer = str(self.source(primer, "midi" if row["makes"] == ".mid" else "audio"))
        similar = str(self.source(form.similar_to, "midi")) if form.similar_to else None
        request = SampleRequest(SampleOptions(primer=primer), Length(form.length, form.seconds), form.num_outputs,
                                Strategy(form.temperature, 0, form.top_p), seed=form.seed, bars=form.bars,
                                similar_to=similar, pitch=form.pitch)

        def work(job: Job) -> list[dict[str, Any]]:
            request.out = f"{job.folder}/"
            samples = api.generate(row["path"], request, progress=job.listen)
            return self.collect(job, samples.paths, row["name"])

        verb = "continuing" if primer or similar else "generating"
        return self.submit(f"{verb} with {row['name']}", work)

    def interpolate(self, form: InterpolateForm) -> dict[str, Any]:
        row = self.model(form.model)
        first, last = self.source(form.first, "midi"), self.source(form.last, "midi")

        def work(job: Job) -> list[dict[str, Any]]:
            samples = api.interpolate(row["path"], first, last, form.steps, job.folder)
            return self.collect(job, samples.paths, row["name"])

        return self.submit(f"interpolating with {row['name']}", work)

    def mix(self, form: MixForm) -> dict[str, Any]:
        row = self.model(form.model)
        first, second = self.source(form.first, "audio"), self.source(form.second, "audio")

        def work(job: Job) -> list[dict[str, Any]]:
            paths = api.mix(row["path"], first, second, [form.weight], f"{job.folder}/", seed=form.seed,
                            progress=job.listen)
            return self.collect(job, paths, row["name"])

        return self.submit(f"mixing with {row['name']}", work)

    def render(self, form: RenderForm) -> dict[str, Any]:
        from tunesmith.media.render import EFFECTS, GM_PROGRAMS, program_number

        source = self.find_source(form.source, "midi")
        midi, stem = source["path"], source["stem"]
        if form.effects not in EFFECTS:
            raise UserError(f"effects {form.effects}: choose one of {', '.join(EFFECTS)}")
        program = program_number(form.program) if form.program else None
        instrument = self.model(form.instrument)["path"] if form.instrument else None
        player = (Path(form.instrument).name if form.instrument
                  else GM_PROGRAMS[program] if program is not None else "its own instruments")

        def work(job: Job) -> list[dict[str, Any]]:
            paths = api.render([midi], job.folder, program=program, effects=form.effects, instrument=instrument,
                               progress=job.listen)
            return self.collect(job, paths, f"{stem} by {player}")

        return self.submit(f"rendering {stem} by {player}", work)


def player_status() -> dict[str, Any]:
    """Whether MIDI results can be played in the page (FluidSynth and a SoundFont), and if not, why."""
    from tunesmith.media.render import find_fluidsynth, find_soundfont

    try:
        find_fluidsynth()
        return {"ok": True, "soundfont": find_soundfont().name}
    except UserError as err:
        return {"ok": False, "message": f"{err}. MIDI results can still be downloaded."}


def one_line(errors: list[dict[str, Any]]) -> str:
    """A request's validation errors as one line: `field: what is wrong; ...`."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc'] if part != 'body')}: {e['msg']}" for e in errors)


def make_app(runs_dir: str | Path = "runs", folder: str | Path = "studio") -> FastAPI:
    """The studio's app over the runs in `runs_dir`, keeping uploads and results in `folder`."""
    from tunesmith.media.render import EFFECTS, GM_PROGRAMS

    studio = Studio(runs_dir, folder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        studio.runner.close()

    app = FastAPI(title="tunesmith studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio

    @app.middleware("http")
    async def content_policy(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(UserError)
    async def user_error(request: Request, err: UserError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": one_line(err.errors())}, status_code=422)

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        models = [{key: value for key, value in row.items() if key != "path"} for row in studio.catalogue().values()]
        return {"models": models, "sources": studio.source_list(), "results": studio.result_list(),
                "jobs": [job.to_dict() for job in list(studio.runner.jobs.values()) if job.state not in FINISHED],
                "programs": list(GM_PROGRAMS), "effects": list(EFFECTS), "player": player_status(),
                "upload_limit": UPLOAD_LIMIT}

    @app.get("/api/runs")
    def run_list() -> list[dict[str, Any]]:
        return [{key: row.get(key) for key in ("run", "recipe", "data", "step", "best_val_loss", "created", "bundled")}
                for row in studio.catalogue().values()]

    @app.get("/api/losses")
    def losses(run: str) -> dict[str, Any]:
        return {"run": run, **api.loss_history(studio.model(run)["path"])}

    @app.post("/api/uploads")
    async def upload(request: Request) -> dict[str, Any]:
        too_big = HTTPException(413, f"the file is over the upload limit of {UPLOAD_LIMIT // 2 ** 20} MB; "
                                     "give a shorter recording or a smaller file")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > UPLOAD_LIMIT + 2 ** 16:  # room for the form's own lines
            raise too_big
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise UserError(f"no file in the upload; give {RECORDINGS}")
        data = await file.read(UPLOAD_LIMIT + 1)
        if len(data) > UPLOAD_LIMIT:
            raise too_big
        return await run_in_threadpool(studio.store_upload, file.filename or "", data)

    @app.post("/api/generate")
    def generate(form: GenerateForm) -> dict[str, Any]:
        return studio.generate(form)

    @app.post("/api/interpolate")
    def interpolate(form: InterpolateForm) -> dict[str, Any]:
        return studio.interpolate(form)

    @app.post("/api/mix")
    def mix(form: MixForm) -> dict[str, Any]:
        return studio.mix(form)

    @app.post("/api/render")
    def render(form: RenderForm) -> dict[str, Any]:
        return studio.render(form)

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str) -> dict[str, Any]:
        return studio.job(job_id).to_dict()

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        job = studio.job(job_id)
        studio.runner.cancel(job)
        return job.to_dict()

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str) -> StreamingResponse:
        """The job's state as Server-Sent Events, one whenever it changes, until it is finished."""
        job = studio.job(job_id)

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while True:
                now = job.to_dict()
                if now["version"] != seen:
                    seen = now["version"]
                    yield f"data: {json.dumps(now)}\n\n"
                if now["state"] in FINISHED:
                    return
                await asyncio.sleep(EVENTS_EVERY)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/files/{file_id}")
    def result_file(file_id: str, download: bool = False) -> FileResponse:
        path = studio.result_file(file_id)
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=media_type, filename=studio.files[file_id][2] if download else None)

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, runs_dir: str | Path = "runs", folder: str | Path = "studio",
          on_ready: Callable[[], None] | None = None) -> None:
    """Serve the studio until Ctrl+C; `on_ready` is called once it answers (to open a browser)."""
    import socket
    import threading
    import time

    import uvicorn

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        raise UserError(f"cannot serve on {host} port {port} ({err.strerror}); give another port",
                        option="port") from None
    server = uvicorn.Server(uvicorn.Config(make_app(runs_dir, folder), host=host, port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))

    def when_ready() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started and on_ready is not None:
            on_ready()

    threading.Thread(target=when_ready, daemon=True).start()
    server.run()
