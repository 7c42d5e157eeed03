"""`python -m pdfprompt.settings` prints docs/configuration.md, in UTF-8 whatever the
terminal's encoding (`reference.COMMAND`)."""

import sys

from pdfprompt.settings.reference import configuration_markdown

sys.stdout.buffer.write(configuration_markdown().encode("utf-8"))
