"""`python -m haproxy_guard.cli`: the same as the `haproxy-guard` console script."""

import sys

from haproxy_guard.cli.entry import main

sys.exit(main())
