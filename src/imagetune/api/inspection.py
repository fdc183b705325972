"""Checking uploads in separate, limited processes.

An upload is decoded before its job is accepted (so a broken file gets 400 at once), but
never in the API process: a pathological file may exhaust memory, hang a decoder or crash
it, and that must cost only an inspector process, which is then replaced.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from imagetune.engine.decode import check_decodable
from imagetune.errors import InvalidImage
from imagetune.processes import limit_address_space, set_process_name

log = logging.getLogger(__name__)


INSPECTOR_PROCESS_NAME = "imagetune-insp"


def _start_inspector(memory_mb: int) -> None:
    set_process_name(INSPECTOR_PROCESS_NAME)
    limit_address_space(memory_mb)


class Inspector:
    def __init__(self, *, processes: int, memory_mb: int, timeout: float, max_pixels: int) -> None:
        self._processes = processes
        self._memory_mb = memory_mb
        self._timeout = timeout
        self._max_pixels = max_pixels
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_inspector,
            initargs=(self._memory_mb,),
        )

    def warm(self) -> None:
        """Start the processes now rather than on the first upload."""
        with self._lock:
            pool = self._pool
        futures = [pool.submit(os.getpid) for _ in range(self._processes)]
        for future in futures:
            future.result()

    def check(self, data: bytes) -> str:
        """The image format; InvalidImage when it does not decode within the limits."""
        with self._lock:
            pool = self._pool
        try:
            future: Future[str] = pool.submit(check_decodable, data, self._max_pixels)
            return future.result(timeout=self._timeout)
        except InvalidImage:
            raise
        except FutureTimeout as e:
            self._replace(pool, "took too long")
            raise InvalidImage(f"decoding took longer than {self._timeout:g} s") from e
        except (BrokenProcessPool, MemoryError) as e:
            self._replace(pool, "died")
            raise InvalidImage("the decoder failed on this file") from e

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another request replaced it already
            log.warning("an upload inspector %s; replacing the inspection processes", why)
            self._pool = self._new_pool()
        for process in list(getattr(broken, "_processes", {}).values()):
            process.kill()  # a hung decoder does not stop by itself
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)
