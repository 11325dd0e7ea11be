"""`python -m treadle.runtime.local`: a worker process (what `treadle worker` runs)."""

from __future__ import annotations

import sys

from treadle.runtime.local.process import main

sys.exit(main())
