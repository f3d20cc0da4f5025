"""Screenplay import: Fountain -> Script (parse) -> Storyboard (breakdown) -> disk (importer),
with re-import that keeps shot ids and manual edits (reimport). See docs/fountain.md."""

from .breakdown import (
    CHARS_PER_MINUTE,
    WORDS_PER_MINUTE,
    BreakdownInput,
    action_seconds,
    breakdown,
    speech_seconds,
)
from .importer import ImportReport, import_script
from .parse import (
    MAX_SCRIPT_BYTES,
    Heading,
    Script,
    Speech,
    parse_fountain,
    parse_heading,
    read_script_file,
    split_cue,
)
from .reimport import MergeResult, merge_storyboards

__all__ = [
    "CHARS_PER_MINUTE", "WORDS_PER_MINUTE", "BreakdownInput", "action_seconds", "breakdown",
    "speech_seconds", "ImportReport", "import_script", "MAX_SCRIPT_BYTES", "Heading", "Script",
    "Speech", "parse_fountain", "parse_heading", "read_script_file", "split_cue",
    "MergeResult", "merge_storyboards",
]
