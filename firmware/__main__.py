from firmware.runtime.cli import main

raise SystemExit(main())
