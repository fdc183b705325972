"""The engine's undecodable-image error, as a client and a job's ``error`` are told it."""

from __future__ import annotations

import pickle

from imagetune.engine.errors import UndecodableImage
from imagetune.errors import InvalidImage, invalid_image, job_failure


def test_an_undecodable_image_is_a_400_with_our_words_only() -> None:
    error = UndecodableImage("cannot decode PNG data", "broken data stream when reading image")
    answer = invalid_image(error)
    assert isinstance(answer, InvalidImage)
    assert answer.status_code == 400
    assert answer.detail == "Invalid image file: cannot decode PNG data"
    assert "broken data stream" in answer.internal  # the log's, not the client's
    assert job_failure(error) == answer.detail


def test_it_crosses_a_process_boundary_whole() -> None:
    # The inspector's process pickles it back to the API process.
    error = pickle.loads(pickle.dumps(UndecodableImage("not a supported image format", "x")))
    assert (error.reason, error.internal) == ("not a supported image format", "x")
    assert invalid_image(error).detail == "Invalid image file: not a supported image format"
