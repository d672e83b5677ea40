"""Where a write's result files live: a local directory or a URI pyarrow can open (``s3://``, ``gs://``, ...).

Every Python worker that runs a write opens this filesystem, so what it imports is paid once per worker. The public
``pyarrow.fs`` loads all the remote filesystems pyarrow was built with; the S3 one alone brings the AWS SDK, 7.6 MB
of resident memory in each worker (measured with pyarrow 26). A local path, as on Databricks' ``/Volumes`` and
``/dbfs`` mounts, needs none of them, so only a URI imports ``pyarrow.fs``, which also registers the factories
:meth:`FileSystem.from_uri` looks schemes up in. (``pyarrow.parquet`` imports ``pyarrow.fs`` too, so a task loads
them once it writes a result file, and only then.)

Examples:
    >>> fs, path = open_filesystem("/Volumes/main/crm/sf_results")
    >>> fs.get_file_info(path).type == FileType.Directory
    True
"""

from __future__ import annotations

try:
    # The classes pyarrow.fs re-exports, from the module that defines them (in pyarrow since 0.17).
    from pyarrow._fs import FileSelector, FileSystem, FileType, LocalFileSystem
except ImportError:  # pragma: no cover - a pyarrow that moved them
    from pyarrow.fs import FileSelector, FileSystem, FileType, LocalFileSystem

__all__ = ["FileSelector", "FileSystem", "FileType", "LocalFileSystem", "open_filesystem"]


def open_filesystem(uri: str) -> tuple[FileSystem, str]:
    """The pyarrow filesystem and path of a local path or a URI (``s3://``, ``gs://``, ``abfs://``, ``hdfs://``,
    ``file://``).

    Args:
        uri: A results directory as the user gave it.

    Returns:
        The filesystem and the path within it.
    """
    if "://" in uri:
        import pyarrow.fs

        return pyarrow.fs.FileSystem.from_uri(uri)
    return LocalFileSystem(), uri
