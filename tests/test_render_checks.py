"""Rendering posts and checking them: exact texts, hashtags in one place, and every content check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign.cli import main
from campaign.plan.languages import DEFAULT_LANGUAGE
from campaign.render import Draft, content_hash, render_plan
from tests.plan_fixtures import line_of, write_campaign


def render_one(tmp_path: Path, text: str, accounts: str = "[lancs-x]") -> list[Draft]:
    """Render one post with *text* (written as a YAML block) to *accounts*."""
    lines = ["- id: post", f"  accounts: {accounts}", "  at: '2027-03-15 09:00'", "  text: |"]
    lines += ["    " + line for line in text.splitlines()]
    plan_path = write_campaign(tmp_path, "\n".join(lines) + "\n")
    rendered = render_plan(plan_path)
    assert rendered.plan is not None, [str(p) for p in rendered.problems]
    return list(rendered.drafts)


def messages(draft: Draft, severity: str = "error") -> list[str]:
    return [p.message for p in draft.problems if p.severity == severity]


def test_template_renders_facts_events_and_vars_then_appends_campaign_hashtags(tmp_path: Path) -> None:
    """A template sees verified facts, its event and its vars; the campaign hashtags are added once, at the end."""
    plan_path = write_campaign(tmp_path, """\
        - id: eve
          accounts: [lancs-x, lancs-facebook]
          template: eve.j2
          vars: {audience: frontline staff}
          event: preston-training
          at: '-1d 18:00'
        """, templates={"eve.j2": """\
            Tomorrow, {{ event.start | day }} at {{ event.start | clock }}: {{ event.title }} for {{ audience }}
            at {{ event.location }}.
            Concerned? Call {{ phones.helpline }} ({{ phones.helpline.label }}).
            """})
    rendered = render_plan(plan_path)
    assert rendered.problems == ()
    assert [(d.key, d.when.label()) for d in rendered.drafts] == [
        ("eve/lancs-facebook", "2027-03-15 18:00 GMT"),
        ("eve/lancs-x", "2027-03-15 18:00 GMT"),
    ]
    assert rendered.drafts[1].text == (
        "Tomorrow, Tuesday 16 March at 10am: Modern slavery training for frontline staff\n"
        "at Preston Town Hall.\n"
        "Concerned? Call 08000 121 700 (Modern Slavery & Exploitation Helpline).\n"
        "\n"
        "#SeeItShareIt #ModernSlavery"
    )
    assert rendered.drafts[1].hashtags == ("SeeItShareIt", "ModernSlavery")


def test_hashtags_already_in_the_text_are_not_added_twice(tmp_path: Path) -> None:
    """A campaign hashtag the author wrote (in any case) is not appended again; the missing one is."""
    (draft,) = render_one(tmp_path, "Spot the signs #SeeItShareIt")
    assert draft.text == "Spot the signs #SeeItShareIt\n\n#ModernSlavery"


def test_hashtags_false_and_platform_variants(tmp_path: Path) -> None:
    """`hashtags: false` leaves the text alone; a platform variant replaces the words for that platform only."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x, lancs-facebook]
          text: The long version for Facebook.
          hashtags: false
          variants:
            x: {text: Short for X}
          at: '2027-03-15 09:00'
        """)
    texts = {d.platform: d.text for d in render_plan(plan_path).drafts}
    assert texts == {"facebook": "The long version for Facebook.", "x": "Short for X"}


def test_an_undefined_name_in_a_template_names_the_template_and_its_line(tmp_path: Path) -> None:
    """StrictUndefined: a misspelt fact is an error at the template's file and line, listing what exists."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          template: call.j2
          at: '2027-03-15 09:00'
        """, templates={"call.j2": "Call us.\nThe helpline: {{ phones.helpine }}\n"})
    (problem,) = render_plan(plan_path).problems
    assert str(problem) == (
        f"{tmp_path / 'posts' / 'call.j2'}:2: post 'post' for @LancsPolice (x): "
        "{{ phones.helpine }} is not defined; the phones are: emergency, helpline, police — correct the "
        "template; every {{ name }} must be a fact, an event field or one of the post's vars"
    )


def test_an_error_in_inline_text_points_into_the_plan(tmp_path: Path) -> None:
    """Inline text is a template too; its errors carry the plan's own line."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          at: '2027-03-15 09:00'
          text: |
            First line
            Hello {{ nme }}
        """)
    (problem,) = render_plan(plan_path).problems
    assert (problem.file, problem.line, problem.message) == (
        str(plan_path), line_of(plan_path, "Hello {{ nme }}"), "{{ nme }} is not defined"
    )


def test_template_syntax_error_names_its_line(tmp_path: Path) -> None:
    """A Jinja syntax error is reported at the template's line, not as a traceback."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          template: bad.j2
          at: '2027-03-15 09:00'
        """, templates={"bad.j2": "One\nTwo {% if %}\n"})
    (problem,) = render_plan(plan_path).problems
    assert (problem.file, problem.line) == (str(tmp_path / "posts" / "bad.j2"), 2)
    assert problem.message.startswith("template syntax: ")


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    """The environment is sandboxed: a template poking at internals renders nothing and is an error."""
    (draft,) = render_one(tmp_path, "{{ phones.__class__.__mro__ }}")
    assert draft.text == ""
    assert messages(draft) == ["{{ phones.__class__ }} is not defined; the phones are: emergency, helpline, police"]


@pytest.mark.parametrize(
    ("accounts", "text", "length", "limit"),
    [
        ("[lancs-x]", "x" * 251, 281, 280),  # 251 + "\n\n" + 28 hashtag characters
        ("[lancs-mastodon]", "https://example.org/" + "a" * 400 + " " + "y" * 447, 501, 500),
        ("[lancs-bluesky]", "👨‍👩‍👧‍👦" * 271, 301, 300),
    ],
)
def test_over_the_platform_limit_is_an_error(tmp_path: Path, accounts: str, text: str, length: int,
                                            limit: int) -> None:
    """Each platform counts its own way (X weighted, Mastodon links as 23, Bluesky graphemes); one over is refused."""
    (draft,) = render_one(tmp_path, text, accounts)
    assert (draft.length, draft.limit) == (length, limit)
    assert messages(draft)[0].endswith(f"over its limit of {limit}")


def test_a_wrongly_grouped_helpline_number_is_an_error(tmp_path: Path) -> None:
    """0800 012 1700 has the helpline's digits but not its verified form: refused, pointing to the fact."""
    (draft,) = render_one(tmp_path, "Call 0800 012 1700.")
    assert messages(draft) == [
        "the number '0800 012 1700' is not written as verified: the Modern Slavery & Exploitation Helpline "
        "is '08000 121 700'"
    ]
    assert draft.problems[0].fix == "write {{ phones.helpline }} so it is always printed exactly as verified"


def test_unverified_numbers_are_errors_but_dates_counts_and_verified_numbers_are_not(tmp_path: Path) -> None:
    """Only phone-like numbers are checked; a number not in facts.phones is an error, 101 and 999 are fine."""
    (draft,) = render_one(tmp_path, "Over 500 trained since 2027-03-01. Call 101, or 999 in an emergency, "
                                    "or 0300 323 0085.")
    assert messages(draft) == ["the number '0300 323 0085' is not one of the plan's verified numbers"]


def test_links_must_be_well_formed_https(tmp_path: Path) -> None:
    """http:// links, links without a scheme and malformed links are errors; https:// links pass."""
    (draft,) = render_one(tmp_path, "Read https://www.lancashire.police.uk/advice, not http://example.com\n"
                                    "nor www.example.com nor https//broken.example")
    assert messages(draft) == [
        "the link 'http://example.com' is not https",
        "'www.example.com' is not a full link",
        "the link 'https//broken.example' is malformed",
    ]


def test_hashtag_and_emoji_warnings_suggest_the_accessible_form(tmp_path: Path) -> None:
    """Lower-case hashtags, more than two hashtags and more than three emoji are warnings, not errors."""
    (draft,) = render_one(tmp_path, "Spot the signs 🔎🔎🔎🔎 #seeitshareit #humantrafficking #ModernSlavery")
    assert messages(draft) == []
    assert messages(draft, "warning") == [
        "#seeitshareit is not written in its accessible form #SeeItShareIt",
        "#humantrafficking is not in CamelCase, so screen readers cannot tell its words apart",
        "it has 3 hashtags; more than 2 make a post harder to read",
        "it has 4 emoji; screen readers read out every one",
    ]


def test_content_hash_changes_with_text_images_and_alt_text(tmp_path: Path) -> None:
    """The hash an approval binds to moves when the words or an image's alt text move, and only then."""
    first = render_one(tmp_path / "a", "Same words")[0].content_hash
    again = render_one(tmp_path / "b", "Same words")[0].content_hash
    other_words = render_one(tmp_path / "c", "Other words")[0].content_hash
    assert first == again != other_words
    plan_path = write_campaign(tmp_path / "d", """\
        - id: post
          accounts: [lancs-x]
          at: '2027-03-15 09:00'
          text: Same words
          images:
            - {file: images/guide.png, alt: The pocket guide}
        """)
    with_image = render_plan(plan_path).drafts[0].content_hash
    plan_path.write_text(plan_path.read_text().replace("The pocket guide", "The guide"))
    with_other_alt = render_plan(plan_path).drafts[0].content_hash
    assert len({first, with_image, with_other_alt}) == 3


def test_template_code_inside_vars_is_an_error_not_published(tmp_path: Path) -> None:
    """`{{ … }}` inside a vars value is not rendered, so a post that would print it is refused."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          text: '{{ opener }} today'
          vars: {opener: 'Call {{ phones.helpline }}'}
          at: '2027-03-15 09:00'
        """)
    (draft,) = render_plan(plan_path).drafts
    assert messages(draft) == [
        "the text still contains template code ('{{' or '{%'), which would be published as written"
    ]


def test_a_variant_can_turn_hashtags_back_on_and_drop_images(tmp_path: Path) -> None:
    """Variant settings override the post's, including `hashtags: true` and `images: []`."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x, lancs-mastodon]
          text: Spot the signs.
          hashtags: false
          images:
            - {file: images/guide.png, alt: The guide}
          variants:
            mastodon: {hashtags: true, images: []}
          at: '2027-03-15 09:00'
        """)
    drafts = {d.platform: d for d in render_plan(plan_path).drafts}
    assert (drafts["x"].text, len(drafts["x"].images)) == ("Spot the signs.", 1)
    assert (drafts["mastodon"].text, drafts["mastodon"].images) == (
        "Spot the signs.\n\n#SeeItShareIt #ModernSlavery", ()
    )


def test_alt_text_can_quote_facts_and_is_checked_like_the_words(tmp_path: Path) -> None:
    """Alt text is rendered with the plan's facts, and a wrong number in it is refused like one in the text."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          text: The helpline card.
          images:
            - {file: images/guide.png, alt: 'A card reading: call {{ phones.helpline }}'}
            - {file: images/guide.png, alt: 'A card reading: call 0800 012 1700'}
          at: '2027-03-15 09:00'
        """)
    (draft,) = render_plan(plan_path).drafts
    assert draft.images[0].alt == "A card reading: call 08000 121 700"
    assert messages(draft) == [
        "the number '0800 012 1700' is not written as verified: the Modern Slavery & Exploitation Helpline "
        "is '08000 121 700'"
    ]


def test_the_same_text_twice_on_one_account_is_an_error_on_x_and_a_warning_elsewhere(tmp_path: Path) -> None:
    """X refuses duplicate content, so a daily post with unchanging words is caught before it is scheduled."""
    plan_path = write_campaign(tmp_path, """\
        - id: daily
          accounts: [lancs-x, lancs-facebook]
          text: Call the helpline on {{ phones.helpline }}.
          daily: '12:30'
          from: 2027-03-15
          until: 2027-03-16
        """)
    problems = render_plan(plan_path).problems
    assert [(p.severity, p.where, p.message) for p in problems] == [
        ("warning", "post 'daily' for Lancashire Police (facebook)",
         "its text is exactly the same as daily@2027-03-15/lancs-facebook at 2027-03-15 12:30 GMT"),
        ("error", "post 'daily' for @LancsPolice (x)",
         "its text is exactly the same as daily@2027-03-15/lancs-x at 2027-03-15 12:30 GMT"),
    ]


def test_a_relative_time_without_an_event_says_so(tmp_path: Path) -> None:
    """`at: '-1d 18:00'` with no `event:` explains that the post needs an event, not a date format."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          text: Tomorrow
          evnt: preston-training
          at: '-1d 18:00'
        """)
    assert [p.message for p in render_plan(plan_path).problems] == [
        "unknown key 'evnt'",
        "'-1d 18:00' is a time relative to an event, but the post has no `event:`",
    ]


def test_a_refused_thread_post_does_not_bury_its_replies_in_follow_on_noise(tmp_path: Path) -> None:
    """When a thread's middle post is refused, that is the one line: its reply is left out with it silently
    (it comes back when the middle post is fixed), instead of a second line for the same mistake."""
    plan_path = write_campaign(tmp_path, """\
        - id: first
          accounts: [lancs-x]
          text: First
          at: '2027-03-15 09:00'
        - id: second
          accounts: [lancs-x]
          text: Second
          reply_to: first
          at: '2027-03-15 08:00'
        - id: third
          accounts: [lancs-x]
          text: Third
          reply_to: second
          at: '2027-03-15 10:00'
        """)
    assert [(p.where, p.message) for p in render_plan(plan_path).problems] == [
        ("post 'second'", "it replies to 'first' but is not scheduled after it"),
    ]


WALES_FLAG = "\U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F"
"""One grapheme, 28 bytes in UTF-8 (a black flag and six tag characters)."""


def test_a_bluesky_post_over_3000_bytes_but_under_300_graphemes_is_an_error(tmp_path: Path) -> None:
    """Bluesky limits a post to 300 graphemes *and* 3,000 UTF-8 bytes: 110 Welsh flags are 125 graphemes but
    3,095 bytes, an error at the words' line (the same words are within X's and Mastodon's limits)."""
    text = "Cymru am byth! " + WALES_FLAG * 110
    plan_path = write_campaign(tmp_path, f"""\
        - id: flags
          accounts: [lancs-bluesky, lancs-mastodon]
          hashtags: false
          at: '2027-03-15 09:00'
          text: '{text}'
        """)
    drafts = {d.platform: d for d in render_plan(plan_path).drafts}
    bluesky = drafts["bluesky"]
    assert (bluesky.length, bluesky.limit, bluesky.byte_length, bluesky.byte_limit) == (125, 300, 3095, 3000)
    (error,) = [p for p in bluesky.problems if p.is_error]
    assert (error.file, error.line) == (str(plan_path), line_of(plan_path, "text: 'Cymru"))
    assert str(error).endswith(
        "post 'flags' for lancspolice.bsky.social (bluesky): it is 3095 bytes in UTF-8, over Bluesky's limit of "
        "3000 bytes — shorten it by 95 bytes (emoji take 4 bytes each, flags 8, accented letters 2), or give it a "
        "`variants: {bluesky: …}` text"
    )
    assert drafts["mastodon"].byte_limit is None and messages(drafts["mastodon"]) == []


def test_a_bluesky_post_of_exactly_3000_bytes_is_within_the_limit(tmp_path: Path) -> None:
    """The byte limit is inclusive: 3,000 bytes is allowed, 3,001 is not (107 flags are 2,996 bytes)."""
    for words, expected in (("abc", []), ("abcd", ["it is 3001 bytes in UTF-8, over Bluesky's limit of 3000 bytes"])):
        (draft,) = render_plan(write_campaign(tmp_path / words, f"""\
            - id: post
              accounts: [lancs-bluesky]
              hashtags: false
              at: '2027-03-15 09:00'
              text: '{words} {WALES_FLAG * 107}'
            """)).drafts
        assert (draft.byte_length, draft.length) == (len(words) + 1 + 2996, len(words) + 1 + 107)
        assert messages(draft) == expected


def repeat_plan(root: Path, second_at: str, accounts: str = "[lancs-mastodon]") -> Path:
    """Two plan entries with the same words (written differently: one line, or two) on *accounts*: the first
    at 09:00 on Monday 15 March, the second at *second_at*."""
    return write_campaign(root, f"""\
        - id: first
          accounts: {accounts}
          text: Spot the signs of modern slavery. Call {{{{ phones.helpline }}}}.
          at: '2027-03-15 09:00'
        - id: again
          accounts: {accounts}
          text: |
            Spot the signs of modern slavery.
            Call {{{{ phones.helpline }}}}.
          at: '{second_at}'
        """)


def test_identical_texts_3_hours_apart_on_one_mastodon_account_are_an_error_naming_both(tmp_path: Path) -> None:
    """The runner finds a post on the platform by its text: the same words (compared as a lookup compares them,
    so a line break and a space are alike) twice on one account less than 12 hours apart are an error on every
    platform, at the later post's line, naming both posts with their times and saying how to fix it."""
    plan_path = repeat_plan(tmp_path, "2027-03-15 12:00")
    rendered = render_plan(plan_path)
    assert [str(p) for p in rendered.problems] == [
        f"{plan_path}:{line_of(plan_path, 'text: |')}: post 'again' for @lancspolice@police.social (mastodon): "
        "again/lancs-mastodon at 2027-03-15 12:00 GMT has the same text as first/lancs-mastodon at 2027-03-15 "
        "09:00 GMT, only 3 hours apart on one account — change the words of one (e.g. add the day with "
        "{{ when | day }}) or move one so they are at least 12 hours apart: the runner finds a post on the "
        "platform by its text, and could take one for the other"
    ]
    assert not rendered.ok


@pytest.mark.parametrize("platform", ["x", "facebook", "mastodon", "bluesky"])
def test_identical_texts_less_than_12_hours_apart_are_an_error_on_every_platform(tmp_path: Path,
                                                                                platform: str) -> None:
    """11 h 59 min apart is an error whatever the platform; the rule is the runner's, not the platform's."""
    rendered = render_plan(repeat_plan(tmp_path, "2027-03-15 20:59", accounts=f"[lancs-{platform}]"))
    assert [(p.severity, p.message.split(", ")[-1]) for p in rendered.problems] == [
        ("error", "only 11 hours 59 minutes apart on one account")
    ]


def test_identical_texts_2_days_apart_on_mastodon_are_not_an_error(tmp_path: Path) -> None:
    """Two days apart the runner cannot confuse them: not an error. The repeat is still shown as a warning,
    as before, because followers see the same words twice (the two are written differently, so it is not an
    exact repeat either: nothing at all)."""
    rendered = render_plan(repeat_plan(tmp_path, "2027-03-17 09:00"))
    assert rendered.ok and rendered.problems == ()
    exact = write_campaign(tmp_path / "exact", """\
        - id: daily
          accounts: [lancs-mastodon]
          text: Call the helpline on {{ phones.helpline }}.
          daily: '12:30'
          from: 2027-03-15
          until: 2027-03-17
          hashtags: false
        """)
    rendered = render_plan(exact)
    assert rendered.ok
    assert [(p.severity, p.message) for p in rendered.problems] == [
        ("warning", "its text is exactly the same as daily@2027-03-15/lancs-mastodon at 2027-03-15 12:30 GMT"),
    ]


def test_identical_texts_on_different_accounts_are_fine(tmp_path: Path) -> None:
    """The rule is per account: the same words on Mastodon and on Bluesky 3 hours apart are no problem."""
    plan_path = repeat_plan(tmp_path, "2027-03-15 12:00")
    plan_path.write_text(plan_path.read_text().replace(
        "  - id: again\n    accounts: [lancs-mastodon]", "  - id: again\n    accounts: [lancs-bluesky]"))
    assert render_plan(plan_path).problems == ()


def test_the_language_is_part_of_the_content_hash(tmp_path: Path) -> None:
    """An approval binds to the language too: the same words labelled cy and en-GB hash differently. en-GB, the
    default, hashes as posts did before plans had languages, so approvals given then stay valid."""
    plan_path = write_campaign(tmp_path, """\
        - id: post
          accounts: [lancs-x]
          text: Croeso
          at: '2027-03-15 09:00'
        """)
    (english,) = render_plan(plan_path).drafts
    plan_path.write_text(plan_path.read_text().replace("text: Croeso", "text: Croeso\n    language: cy"))
    (welsh,) = render_plan(plan_path).drafts
    assert (english.text, english.language, welsh.text, welsh.language) == (welsh.text, "en-GB", english.text, "cy")
    assert english.content_hash != welsh.content_hash
    assert english.content_hash == content_hash(english.text, [], None) == content_hash(
        english.text, [], None, DEFAULT_LANGUAGE)


# -- a template or text that prints no words of its own ------------------------------------------------------


@pytest.mark.parametrize(("template", "printed"), [
    ("{% if false %}Never said.{% endif %}", "nothing"),
    ("{{ '' }}\n   \n", "nothing"),
    ("{% set words = '' %}{{ words }} …!", "only hashtags or punctuation"),
    ("#SeeItShareIt #ModernSlavery", "only hashtags or punctuation"),
])
def test_a_template_that_prints_no_words_of_its_own_is_an_error_at_its_line(tmp_path: Path, template: str,
                                                                           printed: str) -> None:
    """A template that renders to nothing, whitespace, punctuation or hashtags only was a post of the campaign's
    hashtags alone. It is an error at the plan's line naming the template (checked before the hashtags are
    added), once for the post and every account it goes to, and no draft of it is ready."""
    plan_path = write_campaign(tmp_path, """\
        - id: blank
          accounts: [lancs-x, lancs-mastodon]
          template: blank.j2
          at: '2027-03-15 09:00'
        """, templates={"blank.j2": template})
    rendered = render_plan(plan_path)
    assert [(p.file, p.line, p.message) for p in rendered.errors] == [
        (str(plan_path), line_of(plan_path, "template: blank.j2"),
         f"the template 'blank.j2' prints {printed} for this post, no words of its own")] * 2
    assert not any(d.ok for d in rendered.drafts)
    assert {d.text for d in rendered.drafts} == {""}


def test_a_text_with_braces_that_prints_no_words_is_an_error_even_without_hashtags(tmp_path: Path) -> None:
    """A `text:` holding `{{ }}` is a template too: printing no words is an error at the text's line, with or
    without the campaign's hashtags (an empty post is never sent)."""
    plan_path = write_campaign(tmp_path, """\
        - id: quiet
          accounts: [lancs-x]
          hashtags: false
          text: "{{ '' }}"
          at: '2027-03-15 09:00'
        """)
    rendered = render_plan(plan_path)
    assert [(p.line, p.message) for p in rendered.errors] == [
        (line_of(plan_path, "text:"), "the text prints nothing for this post, no words of its own")]


def test_a_variant_that_prints_no_words_is_an_error_at_the_variant_and_only_for_its_platform(tmp_path: Path) -> None:
    """A variant's template that prints nothing is an error at the variant's line, for that platform only:
    the post's other accounts get their words and validate."""
    plan_path = write_campaign(tmp_path, """\
        - id: launch
          accounts: [lancs-x, lancs-facebook]
          text: The week of action starts today.
          variants:
            facebook: {template: empty.j2}
          at: '2027-03-15 09:00'
        """, templates={"empty.j2": "{# to do #}"})
    rendered = render_plan(plan_path)
    assert [(p.line, p.where, p.message) for p in rendered.errors] == [
        (line_of(plan_path, "empty.j2"), "post 'launch' for Lancashire Police (facebook)",
         "the template 'empty.j2' prints nothing for this post, no words of its own")]
    assert [(d.account, d.ok) for d in rendered.drafts] == [("lancs-facebook", False), ("lancs-x", True)]


def test_validate_says_once_that_a_template_prints_nothing(tmp_path: Path) -> None:
    """Through `campaign validate`: one FILE:LINE line for a post to two accounts whose template prints
    nothing, and exit 1."""
    plan_path = write_campaign(tmp_path, """\
        - id: blank
          accounts: [lancs-x, lancs-mastodon]
          template: blank.j2
          at: '2027-03-15 09:00'
        """, templates={"blank.j2": "{% if false %}Never said.{% endif %}\n"})
    result = CliRunner().invoke(main, ["validate", str(plan_path)])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if re.match(rf"{re.escape(str(plan_path))}:\d+: ", line)]
    assert len(problems) == 1, result.output
    assert problems[0].startswith(f"{plan_path}:{line_of(plan_path, 'blank.j2')}: post 'blank' for ")
    assert "the template 'blank.j2' prints nothing for this post, no words of its own — " in problems[0]
