"""Every name in `sfbackup.__all__` resolves: the library API is importable without the CLI."""

import sfbackup


def test_every_exported_name_resolves() -> None:
    for name in sfbackup.__all__:
        assert getattr(sfbackup, name) is not None, name
