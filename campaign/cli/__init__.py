"""The ``campaign`` command line: thin Click commands over the library.

Commands are imported only when they run (a *lazy group*), so ``campaign --help`` starts as fast as
Click itself: the short help of every command lives in :data:`COMMANDS`, next to where to find it.
Each module under ``campaign.cli`` holds one command group; none of them holds logic of its own. The
group turns every error any command raises into one line (:mod:`campaign.cli.errors`), once for all of
them: a person never sees a traceback, and an unexpected one is kept in a log file the line names.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from campaign import __version__

ARGS_META = "campaign.args"
"""``click.Context.meta`` key: the command line's arguments, for the log of an unexpected failure."""
STORE_META = "campaign.store"
"""``click.Context.meta`` key: the store a command opened, as a person would name it, for store errors."""

# name -> ("module:attribute", short help). The short help is repeated here, not read from the
# command, so that listing the commands imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("campaign.cli.plans:validate", "Check plans and every post they render; exit 1 on any error."),
    "preview": ("campaign.cli.plans:preview", "Show every post exactly as it will appear, in time order."),
    "calendar": ("campaign.cli.plans:calendar", "Write the plan's posts as an iCalendar (.ics) file."),
    "init": ("campaign.cli.plans:init", "Start a new campaign folder from the bundled example."),
    "accounts": ("campaign.cli.accounts:accounts", "Check each account of a plan against its platform."),
    "sandbox": ("campaign.cli.sandbox:sandbox", "Run the local platform sandbox for rehearsals and tests."),
    "schedule": ("campaign.cli.store:schedule", "Check a plan and sync its posts into the store."),
    "approve": ("campaign.cli.store:approve", "Sign posts off: by post, day, platform, account or all."),
    "reject": ("campaign.cli.store:reject", "Reject a post, with a reason."),
    "pause": ("campaign.cli.store:pause", "Stop publishing now (a campaign, or one account)."),
    "resume": ("campaign.cli.store:resume", "Lift a pause; posts past their grace window become missed."),
    "rehearse": ("campaign.cli.rehearse:rehearse", "Play a plan against the sandbox, a week in about a minute."),
    "run": ("campaign.cli.run:run", "Publish every approved post at its time, exactly once."),
    "reconcile": ("campaign.cli.recovery:reconcile", "Look posts whose fate is unknown up on their platforms now."),
    "retry": ("campaign.cli.recovery:retry", "Put failed, missed or unknown posts back in the queue."),
    "status": ("campaign.cli.store:status", "Counts by state and day, what is next, pauses, what needs a person."),
    "audit": ("campaign.cli.store:audit", "The audit trail, as text, CSV or JSON."),
    "bundle": ("campaign.cli.store:bundle", "Write an FOI/records bundle for one post."),
    "engagement": ("campaign.cli.engagement:engagement", "Collect engagement from the platforms now."),
    "export": ("campaign.cli.engagement:export", "Export engagement as CSV, JSON Lines or JSON."),
    "report": ("campaign.cli.engagement:report", "An HTML engagement report with charts, and a summary."),
    "demo": ("campaign.cli.demo:demo", "The whole toolkit on the bundled week, in about ten seconds."),
    "db": ("campaign.cli.store:db", "The store's database (upgrade)."),
    "serve": ("campaign.cli.serve:serve", "The sign-off desk in a browser: review, approve, reject, pause, resume."),
    "users": ("campaign.cli.users:users", "The people of the store and their roles: add, set, list, disable, passwd."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS_META] = tuple(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:  # noqa: BLE001 - every error becomes one line; see campaign.cli.errors
            from campaign.cli.errors import as_click_error, debugging, passes_through

            if passes_through(error):
                raise
            failure = as_click_error(error, ctx)
            if debugging():
                raise
            raise failure from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="campaign")
def main() -> None:
    """Plan, preview, approve, publish and measure social media campaigns.

    Start with `campaign preview` to see the bundled week of action, or
    `campaign init DIR` to start a campaign of your own.
    """
