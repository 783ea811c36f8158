import sys

from mockservers.cli import main

sys.exit(main())
