"""The account settings, sign-in link and admin pages in a real browser (Debian's Chromium
under Playwright): each page and state checked with axe-core and photographed at phone and
desktop width, and the flows clicked through: a sign-in link's button, choosing a
password, deleting an account, and an admin disabling someone."""

from __future__ import annotations

import pytest

from tests.support.people import busy_queue, make_person
from tests.support.processes import Process
from tests.support.web import PASSWORD, browser_sign_in, chromium, look_at, new_context

pytestmark = [pytest.mark.chromium, pytest.mark.one_database("postgresql")]

NEW_PASSWORD = "a brand new browser passphrase"


def test_account_settings_link_and_delete_pages(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    base = server.base_url
    person = make_person(env, "settings-browser@example.com")
    newcomer = make_person(env, "link-browser@example.com", password=False)
    with chromium() as browser:
        elsewhere = new_context(browser, user_agent="Mozilla/5.0 (iPhone) Safari/604.1").new_page()
        browser_sign_in(elsewhere, base, person.email)
        page = new_context(browser).new_page()
        browser_sign_in(page, base, person.email)
        page.goto(f"{base}/account")
        assert page.locator(".browsers li").count() == 2
        assert page.get_by_text("Safari on iPhone").is_visible()
        look_at(page, "account-sessions")
        page.get_by_label("Current password").fill("not my password at all")
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change my password").click()
        page.get_by_text("This is not your current password.").wait_for()
        look_at(page, "account-password-error")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change my password").click()
        page.wait_for_url(f"{base}/account?done=password")
        assert page.get_by_role("status").inner_text().startswith("Your password is changed")
        assert page.locator(".browsers li").count() == 1
        look_at(page, "account-password-changed")
        elsewhere.goto(f"{base}/account")
        assert "/signin" in elsewhere.url  # the other browser was signed out

        page.get_by_role("link", name="Delete my account…").click()
        page.wait_for_url(f"{base}/account/delete")
        look_at(page, "account-delete")
        page.get_by_label("Your password").fill("not my password at all")
        page.get_by_role("button", name="Delete my account for good").click()
        page.get_by_text("This is not your current password.").wait_for()
        look_at(page, "account-delete-error")
        page.get_by_label("Your password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Delete my account for good").click()
        page.get_by_role("heading", name="Account deleted").wait_for()
        look_at(page, "account-deleted")

        fresh = new_context(browser).new_page()
        fresh.goto(base + newcomer.link_path)
        assert fresh.locator("strong.email").inner_text() == newcomer.email
        look_at(fresh, "signin-link")
        fresh.get_by_role("button", name="Sign in and choose my password").click()
        fresh.wait_for_url(f"{base}/account/choose-password")
        look_at(fresh, "choose-password")
        fresh.get_by_label("Password", exact=True).fill(PASSWORD)
        fresh.get_by_label("Password again").fill("a different password")
        fresh.get_by_role("button", name="Save my password").click()
        fresh.get_by_text("The two passwords differ.").wait_for()
        look_at(fresh, "choose-password-error")
        fresh.get_by_label("Password", exact=True).fill(PASSWORD)
        fresh.get_by_label("Password again").fill(PASSWORD)
        fresh.get_by_role("button", name="Save my password").click()
        fresh.wait_for_url(f"{base}/account?done=chosen")
        assert fresh.locator("dd.email").inner_text() == newcomer.email
        fresh.goto(base + newcomer.link_path)
        assert fresh.get_by_role("heading", name="This sign-in link no longer works").is_visible()
        look_at(fresh, "signin-link-used")


def test_admin_pages(service: tuple[Process, dict[str, str]]) -> None:
    server, env = service
    base = server.base_url
    admin, busy, small = busy_queue(server, env, "browser", succeeded=2, pages=11)
    with chromium() as browser:
        page = new_context(browser).new_page()
        browser_sign_in(page, base, admin.email)
        page.get_by_role("link", name="Admin").click()
        page.wait_for_url(f"{base}/admin")
        look_at(page, "admin-users")
        page.get_by_label("Email contains").fill("browser@")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(f"{base}/admin?q=browser%40")
        page.get_by_label(f"Plan of {busy.email}").select_option("classic")
        page.get_by_role("button", name=f"Save the plan of {busy.email}").click()
        assert page.get_by_role("status").inner_text() == f"{busy.email} is now on plan classic."
        page.get_by_role("button", name=f"Disable {small.email}").click()
        assert "is disabled" in page.get_by_role("status").inner_text()
        look_at(page, "admin-users-changed")
        page.get_by_label("Email contains").fill("nobody-is-called-this")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("No user's email contains").wait_for()
        look_at(page, "admin-users-empty")

        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Queue").click()
        page.wait_for_url(f"{base}/admin/queue")
        chart = page.get_by_role("img", name="The last 24 hours")
        assert chart.is_visible()
        assert page.locator("svg rect.bar-ended").count() >= 1
        assert page.locator("svg rect.bar-failed").count() >= 1
        look_at(page, "admin-queue")
        page.get_by_text("The chart's numbers").click()
        look_at(page, "admin-queue-numbers")

        other = new_context(browser).new_page()
        browser_sign_in(other, base, busy.email)
        other.goto(f"{base}/admin")
        assert other.get_by_role("heading", name="Not found").is_visible()
        look_at(other, "admin-not-found")
