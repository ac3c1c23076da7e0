from healthboard.cli import main

raise SystemExit(main())
