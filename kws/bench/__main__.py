import sys

from kws.bench import main

sys.exit(main())
