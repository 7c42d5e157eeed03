"""One job, end to end: generate HTML, render it, finish and store the PDF.

`JobPipeline` (`job.py`) is the `JobHandler` the worker runs; the composition root wires it
to a concrete renderer and storage backend. Its steps each have a module: the document an
input makes (`document.py`), the render cache (`cache.py`), a plan's limits (`limits.py`),
finishing (`render.py`; the steps users ask for: `finishing.py`, signing: `signing.py`),
where an attempt's files go (`keys.py`) and storing them (`storing.py`).
"""

from pdfprompt.pipeline.cache import render_key
from pdfprompt.pipeline.document import BuiltDocument, build_document, document_of
from pdfprompt.pipeline.job import JobPipeline
from pdfprompt.pipeline.render import render_input
from pdfprompt.pipeline.signing import CertificateSigner

__all__ = [
    "BuiltDocument",
    "CertificateSigner",
    "JobPipeline",
    "build_document",
    "document_of",
    "render_input",
    "render_key",
]
