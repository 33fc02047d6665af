"""Exceptions raised by irtnet. Every data error names the file, row and field it is about."""

from __future__ import annotations


class IrtnetError(Exception):
    """Base class of every error irtnet raises on purpose."""


class DataError(IrtnetError, ValueError):
    """Bad input data: the message says where (file, row or line, field) and what is wrong.

    `row` is a record's 1-based position as its reader counts them (a CSV data row, header excluded; an item of
    a JSON list, the first being row 1); `line` is the 1-based line of a file read line by line (JSON Lines, one
    text per line), blank lines counted, so that an editor's "go to line" finds it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file, self.row, self.line, self.field, self.reason = file, row, line, field, message
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class UnknownIdError(IrtnetError, LookupError):
    """An id that is not in a vocabulary (a model, query or benchmark never seen)."""

    def __init__(self, kind: str, unknown: list[str], known: int) -> None:
        self.kind, self.unknown = kind, unknown
        shown = ", ".join(repr(u) for u in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        super().__init__(
            f"unknown {kind} id{'s' if len(unknown) > 1 else ''}: {shown}{more} "
            f"(the {kind} vocabulary has {known} ids)"
        )

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


class ConfigError(IrtnetError, ValueError):
    """An invalid or inconsistent configuration value."""


class UnusedOptionError(ConfigError):
    """An option given explicitly where nothing reads it: it would have no effect."""


class CheckpointError(IrtnetError, ValueError):
    """A checkpoint that is missing, corrupt or of an unsupported format version."""
