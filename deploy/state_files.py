"""The files `itb up` keeps in its state folder: JSON it reads back, and secrets only their owner can read."""

import json
import os
from pathlib import Path


def read_json(path: Path) -> dict:
    """A state file's contents ({} when there is none); a RuntimeError saying what to do when it is damaged."""
    if not path.exists():
        return {}
    try:
        contents = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RuntimeError(f"{path} is damaged ({error}); delete it, or start afresh with `itb up --fresh`.") from error
    if not isinstance(contents, dict):
        raise RuntimeError(f"{path} is damaged; delete it, or start afresh with `itb up --fresh`.")
    return contents


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner can read (it holds secrets)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file was there already, readable by others
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
