"""The page options as the domain reads them, and what they do to the render cache key."""

from __future__ import annotations

from pdfprompt.domain import RenderOptions, WaitFor
from pdfprompt.pipeline import render_key
from pdfprompt.render.document import page_rules_css, weasyprint_page_css


def test_options_from_a_job_read_the_page_options() -> None:
    options = RenderOptions.from_dict(
        {"media": "screen", "omit_background": True, "wait_for": {"selector": "#ready"}}
    )
    assert options.css_media == "screen" and options.omit_background
    assert options.wait_for == WaitFor(selector="#ready")
    assert RenderOptions().css_media == "print"


def test_each_page_option_makes_its_own_render_key_and_defaults_keep_the_old_one() -> None:
    key = render_key("u", "chromium", "<p>x</p>", RenderOptions(media=None))
    # The key this render had before the options existed: defaults leave it alone.
    assert key == "98a16b15bdaba374205b0d9c83feaffeb86605c1dddf0fa77db1c713c4a7d4e6"
    others = {
        render_key("u", "chromium", "<p>x</p>", options)
        for options in (
            RenderOptions(media="screen"),
            RenderOptions(omit_background=True),
            RenderOptions(prefer_css_page_size=True),
            RenderOptions(wait_for=WaitFor(delay_ms=100)),
            RenderOptions(wait_for=WaitFor(delay_ms=200)),
        )
    }
    assert len(others) == 5 and key not in others


def test_prefer_css_page_size_drops_the_requests_size_rule_only() -> None:
    named = RenderOptions(format="A5")
    assert "size: A5 portrait !important" in page_rules_css(named)
    preferred = RenderOptions(format="A5", prefer_css_page_size=True)
    assert "size" not in page_rules_css(preferred)
    assert "size: A5 portrait;" in weasyprint_page_css(preferred)
    assert "size: A5 portrait !important;" in weasyprint_page_css(named)
