"""Checking uploads in separate, limited processes.

An upload is decoded before its job is accepted (so a broken file gets 400 at once), but
never in the API process: a pathological file may exhaust memory, hang a decoder or crash
it, and that must cost only an inspector process, which is then replaced.

Each inspector process is a child with a pipe of its own: the upload goes down the pipe
as bytes, the answer comes back. This is a small process pool written by hand rather
than ``concurrent.futures.ProcessPoolExecutor``: the executor hands every call through a
manager thread and a feeder thread (pickling the upload on the way), and under load
(every worker busy) that cost about 2.5 ms of a submission's 5 ms check of a 1 MB PNG,
a tenth of the submission (bench/service.py). Here the request's own thread writes to
the pipe and reads the answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from fastapi.exceptions import RequestValidationError

from imagetune.api.inspector_process import CHECK, INSPECTOR_PROCESS_NAME, PREVIEW, serve
from imagetune.engine.animation import check_output
from imagetune.engine.base import OutputFormat
from imagetune.engine.decode import DEFAULT_MAX_FRAMES, Checked
from imagetune.engine.errors import AnimationTooLarge, CannotAnimate, UndecodableImage
from imagetune.errors import InvalidImage, OutputTooLarge, ServiceUnavailable, invalid_image
from imagetune.processes import CANNOT_START, start_child

log = logging.getLogger(__name__)


FAILED = "the decoder failed on this file"
PIPE_BYTES = 1 << 20
"""Linux's default ceiling for an unprivileged pipe (/proc/sys/fs/pipe-max-size)."""


@dataclass
class _Process:
    """One inspector process and the API's end of its pipe."""

    process: BaseProcess
    uploads: Connection
    answers: Connection

    def stop(self, kill: bool) -> None:
        if kill:
            self.process.kill()  # a hung decoder does not stop by itself
        self.uploads.close()  # an idle process sees EOF and returns
        self.answers.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Inspector:
    def __init__(
        self,
        *,
        processes: int,
        memory_mb: int,
        timeout: float,
        max_pixels: int,
        max_frames: int = DEFAULT_MAX_FRAMES,
    ) -> None:
        self._processes = processes
        self._memory_mb = memory_mb
        self._timeout = timeout
        self._max_pixels = max_pixels
        self._max_frames = max_frames
        self._idle: queue.SimpleQueue[_Process] = queue.SimpleQueue()
        self._all: list[_Process] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(processes):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Process:
        # Two one-way pipes (a duplex Pipe is a socket pair, whose buffer cannot grow):
        # the uploads' pipe takes up to PIPE_BYTES at once, so a request hands over a
        # typical upload without waiting for the process to read it.
        upload_out, upload_in = multiprocessing.Pipe(duplex=False)
        answer_out, answer_in = multiprocessing.Pipe(duplex=False)
        if (set_size := getattr(fcntl, "F_SETPIPE_SZ", None)) is not None:  # Linux only
            with contextlib.suppress(OSError):  # past the ceiling: the default buffer
                fcntl.fcntl(upload_in.fileno(), set_size, PIPE_BYTES)
        process = start_child(
            serve,
            (upload_out, answer_in, self._memory_mb, self._max_pixels, self._max_frames),
            name=INSPECTOR_PROCESS_NAME,
            own_ends=(upload_in, answer_out),
        )
        child = _Process(process, upload_in, answer_out)
        with self._lock:
            self._all.append(child)
        return child

    def warm(self) -> None:
        """Have every process ready (imports done) rather than on the first upload."""
        for inspection in [self.start(b"") for _ in range(self._processes)]:
            with contextlib.suppress(InvalidImage):  # an empty upload is refused, as it should
                inspection.result()

    def check(self, data: bytes) -> Checked:
        """What the image is (format, upright size, frames); InvalidImage when it does not
        decode within the limits."""
        return self.start(data).result()

    def preview(self, data: bytes) -> tuple[bytes, str, tuple[int, int]]:
        """(A small JPEG or PNG of the image, its media type, the image's size), made in
        an inspector process (the same isolation and limits as a check); InvalidImage as
        ``check``."""
        answer = self.start(data, PREVIEW).answer()
        assert isinstance(answer, tuple)
        return answer

    def start(self, data: bytes, kind: bytes = CHECK) -> Inspection:
        """Starts checking ``data`` in an inspector process (waiting for a free one); the
        caller goes on with other work and collects the answer with ``result()``, which
        it must call, also on its own failures (the process is only then free again)."""
        if self._closed:  # shutting down: no process will come back to the queue
            raise ServiceUnavailable(internal="the upload inspector is closed")
        self._top_up()
        child = self._idle.get()
        inspection = Inspection(self, child, time.monotonic() + self._timeout)
        try:
            child.uploads.send_bytes(kind)
            child.uploads.send_bytes(data)
        except OSError:  # it died since its last upload (killed from outside)
            inspection.failed = InvalidImage(FAILED)
            self._replace(child, "died", kill=False)
        return inspection

    def _answer(self, inspection: Inspection) -> Checked | tuple[bytes, str, tuple[int, int]]:
        child = inspection.child
        left = max(0.0, inspection.deadline - time.monotonic())
        try:
            ready = child.answers.poll(left)
            if not ready:
                self._replace(child, "took too long", kill=True)
                raise InvalidImage(f"decoding took longer than {self._timeout:g} s")
            answer = child.answers.recv()
        except (EOFError, OSError) as e:
            self._replace(child, "died", kill=False)
            raise InvalidImage(FAILED) from e
        if answer is None:  # it failed past what it survives (memory)
            self._replace(child, "died", kill=False)
            raise InvalidImage(FAILED)
        self._idle.put(child)
        if isinstance(answer, UndecodableImage):
            raise invalid_image(answer) from answer
        done: Checked | tuple[bytes, str, tuple[int, int]] = answer
        return done

    def _replace(self, broken: _Process, why: str, *, kill: bool) -> None:
        log.warning("an upload inspector %s; replacing it", why)
        with self._lock:
            if broken in self._all:
                self._all.remove(broken)
            closed = self._closed
        broken.stop(kill=kill)
        if not closed:
            try:
                self._idle.put(self._spawn())
            except CANNOT_START:  # no process can start now (memory, process limit): next upload
                log.exception("an upload inspector could not be started")

    def _top_up(self) -> None:
        """Start the processes that could not be replaced before; ServiceUnavailable when
        none runs and none can start."""
        with self._lock:
            missing = self._processes - len(self._all)
        for _ in range(missing):
            try:
                self._idle.put(self._spawn())
            except CANNOT_START as e:
                with self._lock:
                    if not self._all:
                        raise ServiceUnavailable(
                            internal=f"no upload inspector can start: {e}"
                        ) from e
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            children = list(self._all)
            self._all.clear()
        for child in children:
            child.stop(kill=False)


@dataclass
class Inspection:
    """One upload being checked."""

    inspector: Inspector
    child: _Process
    deadline: float
    """time.monotonic() by which the decoder must have answered."""
    failed: InvalidImage | None = None
    answered: Checked | tuple[bytes, str, tuple[int, int]] | None = None

    def result(self) -> Checked:
        """What the image is; InvalidImage when it does not decode within the limits.
        Asked again, the same answer."""
        answer = self.answer()
        assert isinstance(answer, Checked)
        return answer

    def answer(self) -> Checked | tuple[bytes, str, tuple[int, int]]:
        """The process's answer, whatever was asked; InvalidImage as ``result``."""
        if self.failed is None and self.answered is None:
            try:
                self.answered = self.inspector._answer(self)
            except InvalidImage as e:
                self.failed = e
        if self.failed is not None:
            raise self.failed
        assert self.answered is not None
        return self.answered


def check_request(
    info: Checked, long_side: int, output_format: OutputFormat, max_output_pixels: int
) -> None:
    """Refuse, before a job is queued, what the engine would refuse for this image: an
    animation into a still-only format (422, on the ``output_format`` field) or past the
    animation's output pixels (413)."""
    try:
        check_output(info, long_side, output_format, max_output_pixels)
    except CannotAnimate as e:
        field = {"type": "value_error", "loc": ("body", "output_format"), "msg": str(e)}
        raise RequestValidationError([field | {"input": output_format.value}]) from None
    except AnimationTooLarge as e:
        raise OutputTooLarge(str(e)) from e
