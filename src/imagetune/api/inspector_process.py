"""The entry point of an upload inspector process (imagetune.api.inspection runs a few):
decode what arrives down a pipe, answer what it found.

It imports only the engine's decoders. The fork server that inspectors start from (at
every start and after every upload that kills one) imports this module, and each
inspector is a fork of it: the web framework, the database layer and the rest of the
service would only make that server slower to start and take part of each inspector's
address-space cap.
"""

from __future__ import annotations

from multiprocessing.connection import Connection

from imagetune.engine.decode import check_decodable
from imagetune.engine.errors import UndecodableImage
from imagetune.engine.preview import preview
from imagetune.processes import limit_address_space, set_process_name

INSPECTOR_PROCESS_NAME = "imagetune-insp"
CHECK, PREVIEW = b"check", b"preview"
"""What an inspector process is asked to do with the upload that follows."""


def serve(
    uploads: Connection, answers: Connection, memory_mb: int, max_pixels: int, max_frames: int
) -> None:
    """An inspector process: decode each upload that arrives, answer what it found
    (imagetune.engine.decode.Checked), or a preview of it, or the UndecodableImage
    (pickled: its reason and internal text cross the pipe). Anything else (MemoryError
    past the address-space cap) ends the process after saying so: it is replaced."""
    set_process_name(INSPECTOR_PROCESS_NAME)
    limit_address_space(memory_mb)
    while True:
        try:
            kind = uploads.recv_bytes()
            data = uploads.recv_bytes()
        except EOFError:  # the API process closed its end
            return
        try:
            if kind == PREVIEW:
                answers.send(preview(data, max_pixels=max_pixels, max_frames=max_frames))
            else:
                answers.send(check_decodable(data, max_pixels, max_frames))
        except UndecodableImage as e:
            answers.send(e)
        except BaseException:
            answers.send(None)
            return
