"""Where a usage file is: a local path, or a URL that fsspec opens.

Input: a name as the user gave it (`usage.csv`, `/shared/march.csv`,
`file:///shared/march.csv`, `s3://bucket/march.csv`, `memory://march.csv`).
Output: an `Input` -- a `Path` for a local name, the URL itself (a `str`) for a
URL, which a `Path` would mangle (`s3:/bucket`) -- and what the readers need of
it: its bytes (`open_bytes`, seekable, so that a partition reads a byte range),
its size, its suffix, whether it is a regular file, and the name the manifest
records (`absolute`).

fsspec is the Python data ecosystem's file-system layer (Dask, pandas, pyarrow
read through it): `file://` and `memory://` come with it, other schemes with
their package (`s3fs` for `s3://`, `gcsfs` for `gs://`, `adlfs` for `az://`),
which must be installed where the file is read -- on a cluster, on every
worker. fsspec comes with the `cluster` extra; a URL without it, or of a scheme
whose package is missing, is an `InputError` that says what to install.
"""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

from clearline.runtime.inputs.readers import InputError

__all__ = [
    "Input",
    "absolute",
    "as_input",
    "file_mode",
    "has_quotes",
    "is_url",
    "open_bytes",
    "size_of",
    "suffix_of",
]

Input = Path | str  # a local path, or a URL (fsspec's)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")  # two letters at least: `C://` is a drive


def is_url(name: object) -> bool:
    """Whether a name is a URL (`scheme://...`), not a local path.

    >>> is_url("s3://bucket/a.csv"), is_url("file:///tmp/a.csv"), is_url("a.csv"), is_url(Path("a"))
    (True, True, False, False)
    """
    return isinstance(name, str) and _URL.match(name) is not None


def as_input(name: str | Path) -> Input:
    """A name as the readers take it: a URL as it is, anything else a Path."""
    if isinstance(name, Path):
        return name
    return name if is_url(name) else Path(name)


def suffix_of(source: Input) -> str:
    """The file name's suffix, lower case (of a URL's path, without its query).

    >>> suffix_of("s3://b/march.CSV?versionId=3"), suffix_of(Path("a/b.jsonl"))
    ('.csv', '.jsonl')
    """
    if isinstance(source, Path):
        return source.suffix.lower()
    return PurePosixPath(urlsplit(source).path).suffix.lower()


def _filesystem(url: str) -> tuple[Any, str]:
    """fsspec's file system of a URL, and the path in it."""
    try:
        import fsspec
    except ImportError:
        raise InputError(
            url,
            f"cannot read {url}: reading a URL needs fsspec, which is not installed",
            "pip install 'clearline[cluster]', or give a local path",
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
        return fs, str(path)
    except ImportError as err:  # a known scheme whose package is missing: fsspec names it
        raise InputError(url, f"cannot read {url}: {err}", "install the package it names") from None
    except ValueError as err:  # a scheme fsspec does not know
        raise InputError(
            url, f"cannot read {url}: {err}", "give a local path or a URL of a file system fsspec knows"
        ) from None


def open_bytes(source: Input) -> IO[bytes]:
    """The file's bytes, opened for reading (OSError when it cannot be)."""
    if isinstance(source, Path):
        return source.open("rb")
    fs, path = _filesystem(source)
    if "memory" in fs.protocol:
        # fsspec's memory file system hands every opener the one stored file object, so
        # two readers of a file would move each other's position: each gets a copy
        return io.BytesIO(fs.cat_file(path))
    handle: IO[bytes] = fs.open(path, "rb")
    return handle


def size_of(source: Input) -> int:
    if isinstance(source, Path):
        return source.stat().st_size
    fs, path = _filesystem(source)
    return int(fs.size(path))


def file_mode(source: Input) -> int | None:
    """The file's stat mode (a URL's: a regular file or a folder); None when it cannot
    be looked at (the reader then reports why)."""
    if isinstance(source, Path):
        try:
            return source.stat().st_mode
        except OSError:
            return None
    try:
        fs, path = _filesystem(source)
        info = fs.info(path)
    except (OSError, InputError):
        return None
    return stat.S_IFDIR if info.get("type") == "directory" else stat.S_IFREG


def absolute(source: Input) -> str:
    """The name the manifest records as `absolute`: a path resolved, a URL as given."""
    return str(source.resolve()) if isinstance(source, Path) else source


def has_quotes(source: Input) -> bool:
    """Whether the file has a quote anywhere (a CSV row may then span lines); True
    when it cannot be read (the reader meets the problem itself)."""
    try:
        with open_bytes(source) as raw:
            return any(b'"' in block for block in iter(lambda: raw.read(1 << 20), b""))
    except (OSError, InputError):
        return True
