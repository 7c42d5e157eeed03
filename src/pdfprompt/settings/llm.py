"""Settings of the LLM client in `pdfprompt.generate`: where prompts go, with which keys and
models, and how long to wait."""

from __future__ import annotations

import os

from pydantic import AliasChoices, BaseModel, Field, SecretStr

LLM_KEY_VARIABLES = ("OPENROUTER_API_KEY", *(f"OPENROUTER_API_KEY{i}" for i in range(1, 11)))


def _llm_keys_from_env() -> tuple[SecretStr, ...]:
    """OPENROUTER_API_KEY and OPENROUTER_API_KEY1 … OPENROUTER_API_KEY10, those set, in order."""
    values = (os.environ.get(name, "").strip() for name in LLM_KEY_VARIABLES)
    return tuple(SecretStr(v) for v in values if v)


class LlmSettings(BaseModel):
    """Prompts are written into HTML by any OpenAI-compatible chat-completions endpoint. With
    no key, prompts are typeset as Markdown and the job records that generator
    (`markdown-fallback`). Outgoing requests honour `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`,
    `SSL_CERT_FILE` and `SSL_CERT_DIR` (see "Other variables")."""

    llm_base_url: str = Field(
        default="https://openrouter.ai/api/v1",
        validation_alias=AliasChoices("OPENROUTER_BASE_URL"),
        description=(
            "Any OpenAI-compatible chat-completions endpoint (OpenRouter, OpenAI, vLLM, "
            "Ollama, llama.cpp's server)."
        ),
    )
    # Secrets: shown as '**********' in any repr or log of the settings.
    llm_api_keys: tuple[SecretStr, ...] = Field(
        default_factory=_llm_keys_from_env,
        description=(
            "LLM keys, those set, used round-robin; a rate-limited key rests and a refused one "
            "is left out. None set: prompts are typeset as Markdown."
        ),
        json_schema_extra={
            "variables": "`OPENROUTER_API_KEY`, `OPENROUTER_API_KEY1` … `OPENROUTER_API_KEY10`",
            "shown_default": "unset",
        },
    )
    llm_models: str = Field(
        default="openai/gpt-4o-mini,google/gemini-2.0-flash-001",
        validation_alias=AliasChoices("PDFPROMPT_LLM_MODELS"),
        description="Models in fallback order, comma-separated.",
        json_schema_extra={"value": "comma-separated list"},
    )
    llm_timeout_s: float = Field(
        default=120.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_LLM_TIMEOUT_S"),
        description=(
            "Longest wait, in seconds, for the next streamed piece of an answer (connecting: 10 s)."
        ),
    )
    llm_max_tokens: int = Field(
        default=8000,
        ge=256,
        validation_alias=AliasChoices("PDFPROMPT_LLM_MAX_TOKENS"),
        description="`max_tokens` of each request.",
    )
    llm_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_LLM_COOLDOWN_S"),
        description=("Seconds a rate-limited key rests when the answer has no `Retry-After`."),
    )
    llm_quarantine_s: float = Field(
        default=3600.0,
        gt=0,
        validation_alias=AliasChoices("PDFPROMPT_LLM_QUARANTINE_S"),
        description="Seconds a refused key (401/403) is left out.",
    )

    @property
    def llm_model_list(self) -> list[str]:
        """`PDFPROMPT_LLM_MODELS`, comma-separated, in fallback order."""
        return [m.strip() for m in self.llm_models.split(",") if m.strip()]
