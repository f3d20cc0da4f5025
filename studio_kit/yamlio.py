"""YAML reading with line numbers, and atomic writes for every file the studio saves.

PyYAML's composer keeps each node's position; we walk the node tree next to the data so
that a pydantic error location (``shots.3.camera.angle``) can be turned back into the
line a person must edit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from .errors import Problem, ValidationFailed

LineMap = dict[tuple[Any, ...], int]
#: libyaml's parser when PyYAML was built with it (same marks and errors, ~10x faster on
#: feature-length storyboards); the pure-Python one otherwise.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UMASK = os.umask(0)  # read once at import: changing it later would race with threads
os.umask(_UMASK)
#: the mode a plain open() gives a new file here (mkstemp gives 0600)
FILE_MODE = 0o666 & ~_UMASK
M = TypeVar("M", bound=BaseModel)


@contextlib.contextmanager
def atomic_open(path: str | Path, *, private: bool = False,
                sync: bool = True) -> Iterator[BinaryIO]:
    """Open ``path`` for writing so that readers see the old or the new file, never half.

    Writes go to a temporary file in the same folder, which is fsynced and renamed over
    ``path`` only when the block ends without an error. ``private`` keeps the file 0600
    (keys); otherwise it gets the mode a plain ``open()`` would give it. ``sync=False``
    skips the fsync, for callers writing many files that sync once at the end.
    """
    path = Path(path)
    if path.is_dir():  # name the real target, not the temporary file, in the error
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        if not private:  # mkstemp creates 0600
            os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_copy(src: str | Path, dest: str | Path) -> None:
    """Copy a file (streamed, never whole in memory) so ``dest`` is the old or the new one."""
    with open(src, "rb") as fh_in, atomic_open(dest) as fh_out:
        shutil.copyfileobj(fh_in, fh_out, 1 << 20)


def atomic_write_bytes(path: str | Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_open``)."""
    with atomic_open(path, private=private) as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _line_map(node: yaml.Node, prefix: tuple[Any, ...], out: LineMap) -> None:
    out[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[prefix + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, prefix + (key,), out)
            out[prefix + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, prefix + (index,), out)


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Load a YAML file; return the data and a map from key paths to 1-based lines."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "file is not UTF-8 text", file=path, hint="save the file as UTF-8 YAML"
        ) from exc
    except FileNotFoundError as exc:
        raise ValidationFailed("file not found", file=path) from exc
    except OSError as exc:  # a folder named *.yaml, no permission, ...
        raise ValidationFailed(f"cannot read the file: {exc.strerror or exc}", file=path,
                               hint="it must be a readable YAML file") from exc
    try:
        loader = _LOADER(text)  # parse once: nodes for line numbers, then the data
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ValidationFailed(
            f"malformed YAML: {exc.problem or exc}",
            file=path,
            line=(mark.line + 1) if mark else None,
            hint="check indentation and that every 'key: value' pair has a space after ':'",
        ) from exc
    except yaml.YAMLError as exc:  # e.g. ReaderError: control characters (no mark)
        pos = getattr(exc, "position", None)
        raise ValidationFailed(
            f"unreadable YAML: {getattr(exc, 'reason', None) or exc}",
            file=path,
            line=text.count("\n", 0, pos) + 1 if isinstance(pos, int) else None,
            hint="remove control characters; YAML files are plain UTF-8 text",
        ) from exc
    if node is not None:
        _check_duplicate_keys(node, path)
    lines: LineMap = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


def _check_duplicate_keys(node: yaml.Node, path: Path, prefix: tuple[Any, ...] = ()) -> None:
    """PyYAML keeps the last of two equal keys silently; a person editing the file would lose
    the first value without noticing, so a repeated key is an error."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if isinstance(key, str) and key in seen:
                raise ValidationFailed(
                    f"key {key!r} appears twice (first on line {seen[key]})",
                    file=path, line=key_node.start_mark.line + 1,
                    field=".".join(str(p) for p in prefix + (key,)),
                    hint="keep one of the two; YAML would silently use the last",
                )
            seen[key] = key_node.start_mark.line + 1
            _check_duplicate_keys(value_node, path, prefix + (key,))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicate_keys(item, path, prefix + (index,))


def line_for(lines: LineMap, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def validate_file(model: type[M], path: str | Path) -> M:
    """Load ``path`` and validate it as ``model``; errors name file, line, field and fix."""
    data, lines = load_yaml(path)
    return validate_data(model, data, path, lines)


def validate_data(
    model: type[M], data: Any, path: str | Path, lines: LineMap | None = None
) -> M:
    lines = lines or {}
    if data is None:
        raise ValidationFailed(
            "file is empty", file=path, hint=f"write a {model.__name__} mapping in it"
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or None
            hint = _hint_for(err)
            problems.append(
                Problem(str(path), err["msg"], line_for(lines, loc), field, hint)
            )
        raise ValidationFailed(f"{path}: invalid {model.__name__}", problems=problems) from None


def _hint_for(err: dict[str, Any]) -> str | None:
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    if kind == "enum" and "expected" in ctx:
        return f"use one of {ctx['expected']}"
    if kind == "missing":
        return "add this field"
    if kind == "extra_forbidden":
        return "remove this field or check its spelling"
    if kind.startswith("greater_than") or kind.startswith("less_than"):
        return f"value must satisfy {ctx}"
    if "input" in err and kind.endswith("_type"):
        return f"got {err['input']!r}; expected {kind.removesuffix('_type')}"
    return None


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def save_model(path: str | Path, model: BaseModel) -> None:
    """Atomically write a model as YAML (defaults kept out so files stay short)."""
    data = model.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    atomic_write_text(path, dump_yaml(data))
