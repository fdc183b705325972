from __future__ import annotations

from pathlib import Path

import pytest

from imagetune.config import Settings, available_cpus


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMAGETUNE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGETUNE_WORKERS", "3")
    monkeypatch.setenv("IMAGETUNE_RESULT_URL_TTL", "60")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.resolved_workers == 3
    assert settings.result_url_ttl == 60
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/imagetune.db"


def test_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cpus = available_cpus()
    assert settings.resolved_engine_threads == min(4, cpus)
    # Workers x threads fill the CPUs without oversubscribing them.
    assert settings.resolved_workers == max(1, cpus // min(4, cpus))
    assert settings.resolved_public_url() == "http://127.0.0.1:8000"


def test_workers_follow_engine_threads() -> None:
    assert Settings(engine_threads=1).resolved_workers == available_cpus()
    assert Settings(engine_threads=1, workers=3).resolved_workers == 3


@pytest.mark.parametrize(
    ("host", "public_url", "expected"),
    [
        ("0.0.0.0", None, "http://127.0.0.1:9000"),
        ("::1", None, "http://[::1]:9000"),
        ("127.0.0.1", "https://img.example.com/", "https://img.example.com"),
    ],
)
def test_public_url(host: str, public_url: str | None, expected: str) -> None:
    assert Settings(host=host, port=9000, public_url=public_url).resolved_public_url() == expected


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        Settings(workers=-1)
    with pytest.raises(ValueError, match="result_url_ttl"):
        Settings(result_url_ttl=0)


def test_storage_url_must_name_an_s3_bucket() -> None:
    assert Settings(storage_url="s3://bucket/prefix").storage_url == "s3://bucket/prefix"
    for bad in ("file:///tmp/x", "s3://", "bucket/prefix"):
        with pytest.raises(ValueError, match="s3://bucket"):
            Settings(storage_url=bad)


@pytest.mark.parametrize(("value", "indexes"), [("0", (0,)), ("0,2", (0, 2)), (" 1 , 3", (1, 3))])
def test_engine_gpu_names_device_indexes(
    monkeypatch: pytest.MonkeyPatch, value: str, indexes: tuple[int, ...]
) -> None:
    monkeypatch.setenv("IMAGETUNE_ENGINE_GPU", value)
    assert Settings().engine_gpu_indexes == indexes
    monkeypatch.delenv("IMAGETUNE_ENGINE_GPU")
    assert Settings().engine_gpu_indexes is None


@pytest.mark.parametrize("value", ["gpu0", "0;2", "-1", ""])
def test_engine_gpu_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("IMAGETUNE_ENGINE_GPU", value)
    with pytest.raises(ValueError, match="engine_gpu"):
        Settings()
