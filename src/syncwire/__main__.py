"""``python -m syncwire``: the same as the ``syncwire`` command."""

from syncwire.cli import main

raise SystemExit(main())
