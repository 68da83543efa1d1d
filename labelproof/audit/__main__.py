"""``python -m labelproof.audit``."""

import sys

from labelproof.audit.cli import main

sys.exit(main())
