import sys

from mlgw.cli import main

sys.exit(main())
