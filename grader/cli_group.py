"""The click group every ``grader`` command group uses: errors as one line and an exit status."""

from __future__ import annotations

from typing import Any

import click

from grader.errors import GraderError


class OneLineErrors(click.Group):
    """Library errors become one line on stderr with their exit status (2 for usage);
    click's usage errors too, without its usage block. The command list shows each
    command's first help paragraph in full, wrapped, never cut short with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            text = command.short_help or (command.help or "").split("\n\n", 1)[0]
            rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraderError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from None
        except click.UsageError as exc:
            error = click.ClickException(exc.format_message())
            error.exit_code = 2
            raise error from None
