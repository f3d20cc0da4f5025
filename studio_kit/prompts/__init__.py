"""Prompt hardening: a deterministic prompt compiler and a linter (see docs/quality.md)."""

from .compiler import (
    COMPILER_VERSION,
    ENGINE_PROMPT_LIMITS,
    CompiledPrompt,
    PromptPolicy,
    PromptSection,
    compile_episode,
    compile_prompt,
    diff_prompts,
    engine_prompt_limit,
    load_compiled,
    prompt_path,
    save_compiled,
)
from .linter import LintProblem, lint_prompt

__all__ = [
    "COMPILER_VERSION", "ENGINE_PROMPT_LIMITS", "CompiledPrompt", "PromptPolicy",
    "PromptSection", "compile_episode", "compile_prompt", "diff_prompts",
    "engine_prompt_limit", "load_compiled", "prompt_path", "save_compiled",
    "LintProblem", "lint_prompt",
]
