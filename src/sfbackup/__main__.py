"""`python -m sfbackup` runs the command line."""

from sfbackup.cli import main

raise SystemExit(main())
