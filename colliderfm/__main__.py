import sys

from colliderfm.cli import main

sys.exit(main())
