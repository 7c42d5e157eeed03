"""Tools for development and testing: real HTTP peers for what cannot run here."""

from pdfprompt.devtools.fake_llm import FakeLlm, create_fake_llm_app, document_for

__all__ = ["FakeLlm", "create_fake_llm_app", "document_for"]
