"""A local Hugging Face hub cache laid out by hand (no framework: tests/core uses it too)."""

from __future__ import annotations

from pathlib import Path


def add_to_hf_cache(cache: Path, repo_id: str, files_from: Path, commit: str = "a" * 40) -> Path:
    """Lay out ``files_from`` as the cached snapshot of ``repo_id``, as huggingface_hub does."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in files_from.iterdir():
        if f.is_file():
            (snapshot / f.name).unlink(missing_ok=True)
            (snapshot / f.name).symlink_to(f.resolve())
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
