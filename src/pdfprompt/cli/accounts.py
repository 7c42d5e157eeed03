"""`pdfprompt users` and `pdfprompt keys`: people, their plans, their API keys, and the
one-time links that let them into the web pages."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable

from pdfprompt.accounts import ALL_SCOPES, AccountStore, check_password_rules
from pdfprompt.cli.common import SubParsers
from pdfprompt.domain import ConflictError, InvalidInputError, NotFoundError
from pdfprompt.settings import Settings

# A command of these groups: the parsed arguments, the account store and the settings.
Action = Callable[[argparse.Namespace, AccountStore, Settings], Awaitable[None]]


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="user administration")
    us = users.add_subparsers(dest="users_command", required=True)
    uc = us.add_parser(
        "create",
        help=(
            "create a user and print an API key as the last line; without --password, "
            "also a one-time sign-in link to the web pages"
        ),
    )
    uc.add_argument("email")
    uc.add_argument("--plan", default=None)
    uc.add_argument(
        "--password",
        action="store_true",
        help=(
            "also give a password for the web pages: read from standard input when it is "
            "not a terminal (one line), else asked for twice"
        ),
    )
    uc.set_defaults(action=_create_user)
    us.add_parser("list", help="list users").set_defaults(action=_list_users)
    sp_ = us.add_parser("set-plan", help="change a user's plan")
    sp_.add_argument("email")
    sp_.add_argument("plan")
    sp_.set_defaults(action=_set_plan)
    dis = us.add_parser(
        "disable", help="disable a user; their keys stop working, their browser sessions end"
    )
    dis.add_argument("email")
    dis.set_defaults(action=_disable)
    ena = us.add_parser("enable", help="enable a disabled user again")
    ena.add_argument("email")
    ena.set_defaults(action=_enable)
    adm = us.add_parser("set-admin", help="give a user the admin area of the web pages")
    adm.add_argument("email")
    adm.add_argument("--off", action="store_true", help="take it away instead")
    adm.set_defaults(action=_set_admin)
    lnk = us.add_parser(
        "link",
        help=(
            "print a new one-time sign-in link to the web pages as the last line (valid 24 "
            "hours; the person then chooses a password), ending the user's earlier links"
        ),
    )
    lnk.add_argument("email")
    lnk.set_defaults(action=_sign_in_link)
    dl = us.add_parser(
        "delete",
        help=(
            "delete a user and everything of theirs: documents and stored files, share "
            "links, API keys, webhooks, sessions and usage"
        ),
    )
    dl.add_argument("email")
    dl.add_argument("--yes", action="store_true", help="confirm: nothing can bring it back")
    dl.set_defaults(action=_delete_user)

    keys = sub.add_parser("keys", help="API key administration")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    kc = ks.add_parser("create", help="create another key for a user; prints it as the last line")
    kc.add_argument("email")
    kc.add_argument("--name", default="")
    kc.add_argument(
        "--scopes",
        default=",".join(ALL_SCOPES),
        help=f"comma-separated, of {', '.join(ALL_SCOPES)} (default: all)",
    )
    kc.add_argument("--expires-in-days", type=float, default=None)
    kc.set_defaults(action=_create_key)
    kl = ks.add_parser("list", help="list a user's keys")
    kl.add_argument("email")
    kl.set_defaults(action=_list_keys)
    kr = ks.add_parser("revoke", help="revoke a key (by id or by its pp_ prefix)")
    kr.add_argument("email")
    kr.add_argument("key")
    kr.set_defaults(action=_revoke_key)
    for group in (users, keys):
        group.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    from pdfprompt.wiring import account_store

    async def main() -> None:
        async with account_store(settings) as accounts:
            await args.action(args, accounts, settings)

    asyncio.run(main())


def _read_password() -> str:
    """The new password: standard input's first line when it is not a terminal (so that it
    can be piped in), else typed twice without echo."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        check_password_rules(password)
        return password
    password = getpass.getpass("Password: ")
    check_password_rules(password)
    if getpass.getpass("Password again: ") != password:
        raise InvalidInputError("the two passwords differ", field="password")
    return password


async def _create_user(
    args: argparse.Namespace, accounts: AccountStore, settings: Settings
) -> None:
    password = _read_password() if args.password else None
    user = await accounts.create_user(
        args.email, args.plan or accounts.default_plan, password=password
    )
    key = await accounts.create_key(user.id, name="default")
    print(f"created user {user.email} ({user.id}) on plan {user.plan}")
    if user.has_password:
        print("they can sign in to the web pages with the password given")
    else:
        print("one-time sign-in link to the web pages (works once, for 24 hours):")
        print(await _new_link(accounts, settings, user.id))
    print("API key (shown once):")
    print(key.secret)


async def _new_link(accounts: AccountStore, settings: Settings, user_id: str) -> str:
    from pdfprompt.wiring import open_sessions

    token = await open_sessions(accounts.engine, settings).create_link(user_id)
    return f"{settings.effective_public_url}signin/link/{token}"


async def _sign_in_link(
    args: argparse.Namespace, accounts: AccountStore, settings: Settings
) -> None:
    user = await accounts.find_user(args.email)
    if user.disabled:
        raise ConflictError(f"{user.email} is disabled: enable them first (users enable)")
    link = await _new_link(accounts, settings, user.id)
    print(f"one-time sign-in link for {user.email} (works once, for 24 hours; earlier ones end):")
    print(link)


async def _delete_user(
    args: argparse.Namespace, accounts: AccountStore, settings: Settings
) -> None:
    from pdfprompt.actions import delete_account
    from pdfprompt.wiring import prepare_database

    user = await accounts.find_user(args.email)
    if not args.yes:
        raise InvalidInputError(
            f"this deletes {user.email} and everything of theirs for good; add --yes to do it"
        )
    svc = await prepare_database(settings)
    try:
        await delete_account(svc, user.id)
    finally:
        await svc.accounts.aclose()
        await svc.engine.dispose()
    print(f"{user.email} and everything of theirs are deleted")


async def _list_users(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    for user in await accounts.list_users():
        state = "disabled" if user.disabled else "active"
        admin = "  admin" if user.is_admin else ""
        print(f"{user.id}  {user.email}  {user.plan}  {state}{admin}")


async def _set_plan(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    await accounts.set_plan(user.id, args.plan)
    print(f"{user.email} is now on plan {args.plan}")


async def _disable(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    await accounts.set_disabled(user.id, True)
    print(f"{user.email} is disabled")


async def _enable(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    await accounts.set_disabled(user.id, False)
    print(f"{user.email} is enabled")


async def _set_admin(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    await accounts.set_admin(user.id, not args.off)
    print(f"{user.email} is {'no longer' if args.off else 'now'} an admin")


async def _create_key(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
    days = args.expires_in_days
    key = await accounts.create_key(
        user.id,
        name=args.name,
        scopes=scopes,
        expires_in_s=None if days is None else days * 86400,
    )
    print(f"API key for {user.email} (shown once):")
    print(key.secret)


async def _list_keys(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    for k in await accounts.list_keys(user.id):
        state = "revoked" if k["revoked_at"] else "active"
        scopes = ",".join(k["scopes"])
        print(f"{k['id']}  pp_{k['prefix']}_…  {k['name'] or '-'}  {scopes}  {state}")


async def _revoke_key(args: argparse.Namespace, accounts: AccountStore, settings: Settings) -> None:
    user = await accounts.find_user(args.email)
    wanted = args.key.removeprefix("pp_").split("_")[0]
    matches = [k for k in await accounts.list_keys(user.id) if wanted in (k["id"], k["prefix"])]
    if not matches:
        raise NotFoundError(f"{user.email} has no key {args.key}")
    await accounts.revoke_key(matches[0]["id"], user.id)
    print(f"key {matches[0]['id']} of {user.email} is revoked")
