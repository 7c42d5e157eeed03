import sys

from pdfprompt.cli import main

sys.exit(main())
