"""Uploaded files, kept per user in a folder of their own under UPLOAD_FOLDER.

Each stored file is named ``<random id>-<name>``: the server picks the id, so no upload
overwrites another or leaves the user's folder; the name after the id (already cleaned
with ``secure_filename``) is only shown. Each folder has a quota (UPLOAD_MAX_FILES,
UPLOAD_MAX_BYTES). ``delete_user_uploads(user_id)`` removes a user's files; the tour calls
it when the account is deleted.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage

FILE_ID = re.compile(r"[0-9a-f]{32}")
STORED_NAME = re.compile(r"([0-9a-f]{32})-(.+)")
PARTIAL_SUFFIX = ".part"


class QuotaExceeded(Exception):
    """Keeping the file would take the user past their number of files or bytes."""


@dataclass(frozen=True)
class StoredFile:
    """One kept upload: its id, the name shown for it, its size and where it lies."""

    file_id: str
    name: str
    size: int
    path: Path


def user_folder(user_id: int) -> Path:
    """The folder holding this user's uploads (it may not exist yet)."""
    return Path(current_app.config["UPLOAD_FOLDER"]) / f"user-{int(user_id)}"


def list_files(folder: Path) -> list[StoredFile]:
    """The files kept in ``folder``, newest first; files being written are left out."""
    if not folder.is_dir():
        return []
    found = []
    for entry in os.scandir(folder):
        match = STORED_NAME.fullmatch(entry.name)
        if match and entry.is_file():
            stat = entry.stat()
            stored = StoredFile(match[1], match[2], stat.st_size, Path(entry.path))
            found.append((stat.st_mtime, stored))
    return [stored for _, stored in sorted(found, key=lambda item: item[0], reverse=True)]


def usage(folder: Path) -> tuple[int, int]:
    """How many files and bytes the folder holds, uploads still being written included."""
    if not folder.is_dir():
        return 0, 0
    sizes = [entry.stat().st_size for entry in os.scandir(folder) if entry.is_file()]
    return len(sizes), sum(sizes)


def save(folder: Path, upload: FileStorage, name: str) -> StoredFile:
    """Keep ``upload`` under a new id, or raise QuotaExceeded and keep nothing.

    The file is written under a temporary name first and counted with everything else in
    the folder, so two uploads racing each other cannot both slip under the quota.
    """
    folder.mkdir(parents=True, exist_ok=True)
    file_id = secrets.token_hex(16)
    partial = folder / f".{file_id}{PARTIAL_SUFFIX}"
    upload.save(partial)
    count, total = usage(folder)
    config = current_app.config
    if count > config["UPLOAD_MAX_FILES"] or total > config["UPLOAD_MAX_BYTES"]:
        partial.unlink()
        raise QuotaExceeded(
            f"You can keep {config['UPLOAD_MAX_FILES']} files and "
            f"{config['UPLOAD_MAX_BYTES'] // 1024} kilobytes: delete a file first."
        )
    target = folder / f"{file_id}-{name}"
    os.replace(partial, target)
    return StoredFile(file_id, name, target.stat().st_size, target)


def find(folder: Path, file_id: str) -> StoredFile | None:
    """The kept file with this id, or None."""
    if not FILE_ID.fullmatch(file_id):
        return None
    return next((stored for stored in list_files(folder) if stored.file_id == file_id), None)


def delete_user_uploads(user_id: int) -> None:
    """Remove every file the user uploaded, and their folder, if there is one.

    Any other failure is raised: a deleted account must not leave its files behind unseen.
    """
    folder = user_folder(user_id)
    if folder.is_dir():
        shutil.rmtree(folder)
