import sys

from labelproof.toolchain import main

sys.exit(main())
