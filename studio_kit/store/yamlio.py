"""YAML reading with line numbers, and atomic writes for every file the studio saves.

PyYAML's composer keeps each node's position; we walk the node tree next to the data so
that a pydantic error location (``shots.3.camera.angle``) can be turned back into the
line a person must edit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from ..errors import Problem, StudioError, ValidationFailed

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
        raise ValidationFailed("file not found", file=path,
                               hint="check the path (project files are named relative to "
                                    "the series folder)") from exc
    except OSError as exc:  # a folder named *.yaml, no permission, ...
        raise ValidationFailed(f"cannot read the file: {exc.strerror or exc}", file=path,
                               hint="it must be a readable YAML file") from exc
    try:
        _refuse_aliases(text, path)
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


def _refuse_aliases(text: str, path: Path) -> None:
    """Project files may not use YAML anchors (``&a``) or aliases (``*a``): a few hundred
    bytes of nested aliases ("billion laughs") expand to billions of values once the data is
    validated or walked. The scan is linear in the text and runs before anything expands;
    a file without ``&`` or ``*`` is not scanned at all."""
    if "&" not in text and "*" not in text:
        return
    for token in yaml.scan(text, Loader=_LOADER):
        if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            kind = "anchor" if isinstance(token, yaml.AnchorToken) else "alias"
            sign = "&" if kind == "anchor" else "*"
            raise ValidationFailed(
                f"YAML {kind} {sign}{token.value} is not allowed in project files",
                file=path, line=token.start_mark.line + 1,
                hint="write the values out in full (anchors and aliases can expand a small "
                     "file into billions of values); quote text that starts with & or *",
            )


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
                Problem(str(path), _message_for(err), line_for(lines, loc), field, hint)
            )
        raise ValidationFailed(f"{path}: invalid {model.__name__}", problems=problems) from None


#: plain words for the id patterns of the models (a person should not have to read a regex)
_PATTERN_WORDS = {
    r"^[0-9]{2,3}$": ("two or three digits", "write the episode number quoted, e.g. '01'"),
    r"^[a-z0-9][a-z0-9_-]*$": ("lowercase letters, digits, '-' and '_'",
                               "rename it, e.g. 'Old Town' -> 'old-town'"),
}


def _message_for(err: dict[str, Any]) -> str:
    """pydantic's message, with a regex pattern put in words."""
    if err.get("type") == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        words = _PATTERN_WORDS.get(pattern, ("the documented form", ""))[0]
        return f"{err.get('input')!r} is not a valid value: use {words}"
    return str(err["msg"])


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
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return _PATTERN_WORDS.get(pattern, ("", "see the field's description in schema/"))[1]
    if kind in ("string_too_short", "too_short"):
        return f"give at least {ctx.get('min_length', 1)}"
    if kind in ("string_too_long", "too_long"):
        return f"give at most {ctx.get('max_length')}"
    if kind == "literal_error" and "expected" in ctx:
        return f"use one of {ctx['expected']}"
    if kind == "value_error":
        return "correct the value as the message says"
    if "input" in err:
        return f"got {err['input']!r}; see the field's description in schema/"
    return None


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# -- saving: round-trip edits that keep the file's comments, quoting and key order -------------
_MISSING = object()


@dataclasses.dataclass
class SaveResult:
    """What ``save_model`` wrote: the model now on disk and the fields it kept from changes
    made to the file since ``base`` was loaded (merged, not overwritten)."""

    model: BaseModel
    theirs: list[str]


def plain_data(model: BaseModel) -> Any:
    """A model as the plain data a save compares and merges (what the file would hold)."""
    return model.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


_plain = plain_data


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(whole file)"


def changed_fields(a: Any, b: Any, loc: tuple[Any, ...] = ()) -> list[str]:
    """The leaf field paths where two plain (dumped) values differ."""
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in list(a) + [k for k in b if k not in a]:
            out += changed_fields(a.get(k, _MISSING), b.get(k, _MISSING), loc + (k,))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [f for i, (x, y) in enumerate(zip(a, b, strict=True))
                for f in changed_fields(x, y, loc + (i,))]
    return [_dotted(loc)]


def merge3(base: Any, disk: Any, new: Any, loc: tuple[Any, ...] = (),
           conflicts: list[tuple[str, Any, Any]] | None = None) -> Any:
    """Field-wise three-way merge of plain data: ``new``'s changes against ``base`` applied
    on top of ``disk``. Where both changed one field differently the field goes to
    ``conflicts`` (path, disk value, new value) and the disk value is kept."""
    conflicts = [] if conflicts is None else conflicts
    if new == base or disk == new:
        return disk
    if disk == base:
        return new
    if isinstance(base, dict) and isinstance(disk, dict) and isinstance(new, dict):
        out = {}
        for k in list(disk) + [k for k in new if k not in disk]:
            v = merge3(base.get(k, _MISSING), disk.get(k, _MISSING), new.get(k, _MISSING),
                       loc + (k,), conflicts)
            if v is not _MISSING:
                out[k] = v
        return out
    if (isinstance(base, list) and isinstance(disk, list) and isinstance(new, list)
            and len(base) == len(disk) == len(new)):
        return [merge3(b, d, n, loc + (i,), conflicts)
                for i, (b, d, n) in enumerate(zip(base, disk, new, strict=True))]
    conflicts.append((_dotted(loc), disk, new))
    return disk


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One save at a time per folder, across processes (surface kernels, CLI)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_RATIO_RE = re.compile(r"^\s*\d+(\.\d+)?\s*:\s*1\s*$")


def _styled(old: Any, new: Any) -> Any:
    """``new`` in the style of the scalar it replaces (quotes kept; a ``"4:1"`` ratio stays
    a ratio)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(old, str) and isinstance(new, int | float) and not isinstance(new, bool) \
            and _RATIO_RE.match(old):
        new = f"{new:g}:1"
    if isinstance(new, str):
        for kind in (DoubleQuotedScalarString, SingleQuotedScalarString):
            if isinstance(old, kind):
                return kind(new)
    return new


def _node_like(value: Any, like: Any) -> Any:
    """A new mapping/sequence node, in flow style when the sibling it joins is."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        node: Any = CommentedMap((k, _node_like(v, None)) for k, v in value.items())
    elif isinstance(value, list):
        node = CommentedSeq(_node_like(v, None) for v in value)
    else:
        return value
    if like is not None and getattr(like, "fa", None) is not None and like.fa.flow_style():
        node.fa.set_flow_style()
    return node


def _apply(node: Any, old: Any, new: Any) -> Any:
    """Change the round-trip tree ``node`` (whose data dumps as ``old``) so it holds ``new``,
    touching only what differs. Returns the node to put in the parent's place."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if old == new:
        return node
    if isinstance(node, CommentedMap) and isinstance(old, dict) and isinstance(new, dict):
        for k in [k for k in old if k not in new and k in node]:
            del node[k]
        keys = list(new)
        for i, k in enumerate(keys):
            if k in node:
                if old.get(k, _MISSING) != new[k]:
                    node[k] = _apply(node[k], old.get(k, _MISSING), new[k])
                continue
            if k in old and old[k] == new[k]:
                continue  # a default the file leaves out: keep it out
            after = next((j for j, key in enumerate(node) if key in keys[i + 1:]), len(node))
            node.insert(after, k, _node_like(new[k], node))
        return node
    if isinstance(node, CommentedSeq) and isinstance(old, list) and isinstance(new, list) \
            and len(node) == len(old):
        for i in range(min(len(old), len(new))):
            if old[i] != new[i]:
                node[i] = _apply(node[i], old[i], new[i])
        del node[len(new):]
        for v in new[len(old):]:
            node.append(_node_like(v, node[0] if len(node) else node))
        return node
    if isinstance(new, dict | list):
        return _node_like(new, node)
    return _styled(node, new)


def _round_trip_yaml(text: str, width: int = 4096) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, offset = load_yaml_guess_indent(text)
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = width
    rt.indent(mapping=2, sequence=max(indent or 2, (offset or 0) + 2), offset=offset or 0)
    return rt


def _dumps(rt: Any, tree: Any, text: str) -> str:
    import io

    buf = io.StringIO()
    rt.dump(tree, buf)
    out = buf.getvalue()
    if not text.startswith("---") and out.startswith("---\n"):
        out = out[4:]
    return out


def _edit_text(text: str, old: Any, new: Any) -> str | None:
    """``text`` with only the fields where ``old`` and ``new`` differ changed, or None when
    the file cannot be edited in place (then the caller writes a fresh dump).

    The line width is the one that reproduces the file unchanged (never re-wrap a person's
    long line; files the studio wrote itself wrap long flow mappings at 100)."""
    import difflib

    from ruamel.yaml.error import YAMLError as RuamelError

    try:
        best: tuple[int, Any] | None = None
        for width in (4096, 100, 80):
            rt = _round_trip_yaml(text, width)
            same = _dumps(rt, rt.load(text), text)
            if same == text:
                best = (0, rt)
                break
            cost = sum(1 for line in difflib.ndiff(text.splitlines(), same.splitlines())
                       if line[:1] in "+-")
            if best is None or cost < best[0]:
                best = (cost, rt)
        assert best is not None
        rt = best[1]
        tree = _apply(rt.load(text), old, new)
        return _dumps(rt, tree, text)
    except (RuamelError, ValueError, TypeError, AttributeError, KeyError, IndexError):
        return None


def save_model(path: str | Path, model: BaseModel, *,
               base: BaseModel | dict[str, Any] | None = None) -> SaveResult:
    """Atomically write a model as YAML, editing the existing file in place.

    An existing file keeps its comments, quoting, key order and layout: only the fields
    whose values change are rewritten (ruamel.yaml round-trip). With ``base`` (the model as
    it was loaded, or its ``plain_data``), changes made to the file since then are merged
    field by field; a field both sides changed is refused with a ``StudioError`` naming it,
    and nothing is written.
    """
    path = Path(path)
    with _folder_lock(path.parent):
        new = _plain(model)
        try:
            text: str | None = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            text = None
        if text is None or not text.strip():
            atomic_write_text(path, dump_yaml(new))
            return SaveResult(model, [])
        try:
            disk_model = validate_file(type(model), path)
        except ValidationFailed as exc:
            if base is not None:
                head = Problem(str(path), f"{path.name} was changed on disk since it was "
                               "loaded and is not valid now; nothing was saved",
                               hint="fix the file (studio validate), then reload the page")
                raise ValidationFailed(head.message, problems=[head, *exc.problems]) from None
            atomic_write_text(path, dump_yaml(new))  # no usable old file to edit
            return SaveResult(model, [])
        disk = _plain(disk_model)
        theirs: list[str] = []
        result = model
        if base is not None:
            old = base if isinstance(base, dict) else _plain(base)
            conflicts: list[tuple[str, Any, Any]] = []
            merged = merge3(old, disk, new, conflicts=conflicts)
            if conflicts:
                field, on_disk, mine = conflicts[0]
                more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
                raise StudioError(
                    f"{path.name} was changed elsewhere since it was loaded: {field} is now "
                    f"{on_disk!r} in the file, this edit has {mine!r}{more}; nothing was saved",
                    file=path, field=field,
                    hint="reload the page to see the current file, then redo your edit")
            if merged != new:
                result = validate_data(type(model), merged, path)
                theirs = changed_fields(new, merged)
                new = _plain(result)
        if new == disk:
            return SaveResult(result, theirs)
        out = _edit_text(text, disk, new)
        if out is not None:
            try:  # the edited text must read back as exactly what we mean to save
                data = yaml.load(out, Loader=_LOADER)
                ok = _plain(validate_data(type(model), data, path)) == new
            except (yaml.YAMLError, ValidationFailed):
                ok = False
            if not ok:
                out = None
        atomic_write_text(path, out if out is not None else dump_yaml(new))
        return SaveResult(result, theirs)
