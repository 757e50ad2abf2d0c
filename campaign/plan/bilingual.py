"""Plans in several languages: Welsh and English as pairs (docs/decisions/0015-welsh-english-pairs.md).

A plan that declares ``languages: [cy, en]`` under ``campaign:`` gives every post's words once per language,
under the language's tag, with its own campaign hashtags (``hashtags: {cy: [...], en: [...]}``)::

    posts:
      - id: launch
        at: '2027-03-15 09:00'
        accounts: [heddlu-x]
        cy: {text: "…", images: [{file: images/card.png, alt: "…"}]}
        en: {text: "…", images: [{file: images/card.png, alt: "…"}]}

A post without one of the languages says why (``without: {en: "…"}``). Each account says how it takes them:
``languages: [cy, en]`` puts both in one post, in that order (the Welsh Language Standards prefer Welsh
first); ``language: cy`` posts in one, and ``pair: other-account`` names the account that posts the same
posts in the other language. A post to either account of a pair goes to both; the one in the plan's first
language leads, and the other is never sent before it (the store's ``follows``).

This module reads what is particular to such plans; :mod:`campaign.plan.loader` and
:mod:`campaign.plan.posts` call it. A plan without ``languages:`` never reaches it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from campaign.plan.languages import LanguageProblem, describe_language, standard_language
from campaign.plan.model import Account, Campaign
from campaign.problems import shown
from campaign.yamlfile import Section, YamlList, YamlMap, describe, did_you_mean, is_blank, seq_items

if TYPE_CHECKING:
    from campaign.plan.loader import Loader

LANGUAGE_EXAMPLE = "[cy, en] (Welsh first, then English)"


def name(tag: str) -> str:
    """A language's name for people: ``Welsh``, ``English``."""
    return describe_language(tag).split(",")[0]


def campaign_languages(loader: Loader, section: Section) -> tuple[str, ...]:
    """The languages the campaign declares (`languages:`), standardised, each once; () if none.

    A mistake here is reported once, and the rest of the plan is still read as in the languages meant (a tag
    written as a language's name, as the tag suggested; those written right), so that the one mistake does not
    come back as an error on every post and account that gives its words per language."""
    value = section.get("languages")
    if value is None:
        return ()
    where = section.sub("languages")
    if "language" in section:
        loader.error(section.key_line("language"), section.sub("language"), "both 'language' and 'languages' "
                     "are given", "remove `language:`: the first of `languages:` is the one posts come in first")
    tags: list[str] = []
    for index, item, line in seq_items(value):
        tag = _tag(loader, item, line, f"{where}[{index + 1}]")
        if tag is None:
            continue
        if tag in tags:
            loader.error(line, where, f"{name(tag)} ({tag}) is listed twice", "list each language once")
            continue
        tags.append(tag)
    if len(value) < 2:
        loader.error(section.value_line("languages"), where, "a plan with languages names at least two",
                     f"write them all, such as {LANGUAGE_EXAMPLE}, or remove `languages:` for a plan in one "
                     "language (then `language:` names it)")
    welsh = next((tag for tag in tags if tag.split("-")[0] == "cy"), None)
    if welsh is not None and tags[0] != welsh:
        welsh_first = ", ".join([welsh, *(tag for tag in tags if tag != welsh)])
        loader.report.warn(section.value_line("languages"), where, f"Welsh comes after {name(tags[0])}: the Welsh "
                           "Language Standards ask that Welsh is not treated less favourably, and posts come in the "
                           "first language first", f"write `languages: [{welsh_first}]`, unless your Welsh language "
                           "scheme says otherwise")
    return tuple(tags)


def language_hashtags(loader: Loader, value: YamlList | YamlMap | None, line: int, languages: tuple[str, ...],
                      read: Callable[[YamlList, str], tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Each language's campaign hashtags, from `hashtags: {cy: [...], en: [...]}` (*value*, on *line*) or one
    list for every language; *read* is the loader's reader of one list of hashtags (the list, and where it is,
    for messages)."""
    if not isinstance(value, YamlMap):
        shared = read(value, "campaign.hashtags") if value is not None else ()
        return dict.fromkeys(languages, shared)
    if not languages:
        loader.error(line, "campaign.hashtags", "hashtags are given per language, but "
                     "the campaign declares no languages", "write one list, such as [SeeItShareIt, ModernSlavery], "
                     f"or add `languages: {LANGUAGE_EXAMPLE}` to the campaign")
        return {}
    tags: dict[str, tuple[str, ...]] = {}
    for tag, (item, item_line) in _by_language(loader, value, "campaign.hashtags", languages).items():
        if isinstance(item, YamlList):
            tags[tag] = read(item, f"campaign.hashtags.{tag}")
        else:
            loader.error(item_line, f"campaign.hashtags.{tag}", f"expected a list of hashtags, found {describe(item)}",
                         "write a list such as [CaethwasiaethFodern], or [] for none")
            tags[tag] = ()
    for tag in languages:
        if tag not in tags:
            loader.error(line, "campaign.hashtags", f"there are no {name(tag)} hashtags",
                         f"add `{tag}: [...]` (or `{tag}: []` for none): each language has its own")
            tags[tag] = ()
    return tags


def account_languages(loader: Loader, section: Section, campaign: Campaign, where: str, line: int
                      ) -> tuple[tuple[str, ...], str | None]:
    """The languages an account posts in, and the account it is paired with as written (checked once every
    account is read: :func:`check_pairs`; kept even when the languages are wrong, so that its partner is not
    reported again as having none)."""
    languages = campaign.languages
    written = [key for key in ("language", "languages", "pair") if section.written(key)]
    pair = section.get("pair")
    if not languages:
        if written:
            loader.error(section.key_line(written[0]), f"{where}.{written[0]}", f"{written[0]!r} is for plans in "
                         "several languages, and this campaign declares none",
                         f"remove it, or add `languages: {LANGUAGE_EXAMPLE}` to the campaign")
        return (), None
    if section.written("language") and section.written("languages"):
        loader.error(section.key_line("languages"), where, "both 'language' and 'languages' are given",
                     "keep `language:` for an account that posts in one language, `languages:` for one post in each")
        return (), pair
    if "language" in section:
        tag = _tag(loader, section.get("language"), section.value_line("language"), f"{where}.language")
        tag = _declared(loader, tag, languages, section.value_line("language"), f"{where}.language")
        if tag is None:
            return (), pair
        return (tag,), pair
    if "languages" in section:
        chosen = _account_list(loader, section, languages, where)
        if chosen:
            in_order = tuple(tag for tag in languages if tag in chosen)
            if chosen != in_order:
                loader.report.warn(section.value_line("languages"), f"{where}.languages", f"the account posts "
                                   f"{name(chosen[0])} first, and the campaign puts {name(in_order[0])} first",
                                   f"write `languages: [{', '.join(in_order)}]`, in the campaign's order")
        if section.written("pair"):
            loader.error(section.key_line("pair"), f"{where}.pair", "an account that posts in several languages "
                         "has no pair", "remove `pair:`, or give the account one `language:`")
        return chosen, None
    listed = ", ".join(languages)
    loader.error(line, where, "the campaign is in several languages, and the account does not say which it posts "
                 "in", f"add `languages: [{listed}]` for one post in each, or `language: {languages[0]}` with "
                 "`pair:` naming the account for the others")
    return (), pair


def check_pairs(loader: Loader, accounts: dict[str, Account], campaign: Campaign) -> dict[str, Account]:
    """Check the accounts' pairs, made symmetric: each names another account, on the same platform, in another
    language, paired with no other; an account in a language other than the first has a partner in the first
    (otherwise the posts it publishes would go without it). A wrong pair is reported once, at its `pair:`, and
    takes the account out; its partner is not reported again for having none."""
    first = campaign.languages[0]
    partners: dict[str, str] = {}
    named = {account.pair for account in accounts.values() if account.pair}  # by some `pair:`, rightly or not
    for account in accounts.values():
        if account.pair is None or not account.languages:
            continue  # no pair, or its languages are wrong (reported where they were read)
        other = accounts.get(account.pair)
        problem = _pair_problem(account, other, accounts, partners)
        if problem is not None:
            loader.error(account.pair_line or account.line, f"accounts.{account.id}.pair", *problem)
        elif other is not None and other.languages:
            partners[account.id], partners[other.id] = other.id, account.id
    checked: dict[str, Account] = {}
    for account in accounts.values():
        partner = partners.get(account.id)
        if not account.languages or (account.pair is not None and partner is None):
            continue  # reported where its languages were read, or above
        if len(account.languages) == 1 and account.languages[0] != first and partner is None:
            if account.id not in named:
                loader.error(account.line, f"accounts.{account.id}", f"the account posts in "
                             f"{name(account.languages[0])} only, with no {name(first)} partner: its posts would go "
                             f"without their {name(first)}", f"add `pair:` naming the account that posts in "
                             f"{name(first)}, or post both with `languages: [{', '.join(campaign.languages)}]`")
            continue
        checked[account.id] = account if account.pair == partner else _with_pair(account, partner)
    return checked


def _pair_problem(account: Account, other: Account | None, accounts: Mapping[str, Account],
                  partners: Mapping[str, str]) -> tuple[str, str] | None:
    """What is wrong with *account*'s `pair:` (naming *other*), if anything; None too where *other*'s own
    languages are wrong (reported there)."""
    if account.pair == account.id:
        return "the account is paired with itself", "name the account that posts in the other language"
    if other is None:
        known = [a for a in accounts if a != account.id]
        return (f"there is no account {shown(account.pair)}",
                did_you_mean(str(account.pair), known, "the accounts are") if known else "add it under `accounts:`")
    if not other.languages:
        return None
    if other.platform != account.platform:
        return (f"it is paired with {other.id!r}, a {other.platform} account, but is on {account.platform}",
                "pair accounts on the same platform")
    if other.handle.casefold() == account.handle.casefold():
        return (f"it is paired with {other.id!r}, which is the same account ({account.handle})",
                "pair it with the account that posts in the other language: each language has its own account")
    if len(other.languages) != 1:
        return (f"it is paired with {other.id!r}, which does not post in one language",
                f"give {other.id!r} one `language:`")
    if other.languages == account.languages:
        return (f"it is paired with {other.id!r}, which posts in {name(other.languages[0])} too",
                "pair it with the account that posts in the other language")
    if other.pair not in (None, account.id) or partners.get(other.id, account.id) != account.id:
        return f"{other.id!r} is paired with another account already", "pair each account with one other"
    return None


def _with_pair(account: Account, partner: str | None) -> Account:
    return dataclasses.replace(account, pair=partner)  # every other field kept (an Instagram account's media_host)


def post_keys(languages: tuple[str, ...]) -> dict[str, type]:
    """The keys a post may have besides its own in a plan with *languages*: one per language (or its alias,
    :func:`aliases`), and `without:`."""
    return {**dict.fromkeys(languages, YamlMap), **dict.fromkeys(aliases(languages), YamlMap), "without": YamlMap}


def aliases(languages: tuple[str, ...]) -> dict[str, str]:
    """Keys that name a declared language by its language alone (`en` for a declared `en-GB`), where no other
    declared language shares it: BCP 47's lookup, so that `en:` under `languages: [cy, en-GB]` is read as meant."""
    primary = [tag.split("-")[0] for tag in languages]
    return {short: tag for short, tag in zip(primary, languages, strict=True)
            if short != tag and primary.count(short) == 1 and short not in languages}


def language_sections(data: Mapping[str, Any], languages: tuple[str, ...]) -> dict[str, tuple[str, Any]]:
    """The language sections written in a post (or variant) *data*: declared tag -> (the key written, its value),
    in the campaign's order of languages, whatever the order they are written in."""
    keys = {**{tag: tag for tag in languages}, **aliases(languages)}
    found = {keys[key]: (key, value) for key, value in data.items() if key in keys}
    return {tag: found[tag] for tag in languages if tag in found}


def post_hints(languages: tuple[str, ...]) -> dict[str, str]:
    """What to write at each of those keys, for messages."""
    return {**{tag: f"the post's words in {name(tag)}: `text:` or `template:`, with `images:` if it has any"
               for tag in languages},
            "without": f"each language the post is not written in, with the reason, such as `{languages[-1]}: …`"}


def without_reasons(loader: Loader, section: Section, languages: tuple[str, ...],
                    given: Mapping[str, Any]) -> dict[str, str] | None:
    """The reasons a post gives for each language it is not written in (`without:`); None if one is missing
    or wrong (reported)."""
    reasons: dict[str, str] = {}
    value = section.get("without")
    ok = True
    if isinstance(value, YamlMap):
        for tag, (reason, line) in _by_language(loader, value, section.sub("without"), languages).items():
            if tag in given:
                loader.error(line, section.sub("without"), f"the post is written in {name(tag)}, and says it is not",
                             f"remove `{tag}:` from `without:`, or its {name(tag)} words")
                ok = False
            elif is_blank(reason) or not isinstance(reason, str):
                loader.error(line, f"{section.sub('without')}.{tag}", f"the reason the post has no {name(tag)} is "
                             f"{'blank' if is_blank(reason) else describe(reason)}",
                             "say why, for the record and the approver: the Welsh Language Standards ask for it")
                ok = False
            else:
                reasons[tag] = reason.strip()
    elif section.written("without"):
        return None  # blank or the wrong kind of value: reported
    for tag in languages:
        if tag not in given and tag not in reasons and ok:
            loader.error(section.line, section.where, f"it has no {name(tag)} words",
                         f"add `{tag}:` with its `text:` or `template:`, or `without: {{{tag}: <why>}}` to say why not")
            ok = False
    if ok and not given:
        loader.error(section.line, section.where, "it has no words in any language",
                     f"add `{languages[0]}:` with its `text:` or `template:`")
        ok = False
    return reasons if ok else None


def images_problem(words: Mapping[str, Any]) -> tuple[str, str] | None:
    """What is wrong with the images of a post's languages (*words*: language -> its content), if anything: some
    languages show images and others none, so a reader of those would miss what the picture says."""
    showing = [tag for tag, content in words.items() if content.images]
    lacking = [tag for tag in words if tag not in showing]
    if not showing or not lacking:
        return None
    having, missing = " and ".join(name(t) for t in showing), " and ".join(name(t) for t in lacking)
    return (f"the {having} words show images and the {missing} do not",
            (f"give the {missing} words their images too (the same file with alt text in that language, or a card "
             "of their own), or show none in either"))


def _by_language(loader: Loader, value: YamlMap, where: str, languages: tuple[str, ...]
                 ) -> dict[str, tuple[Any, int]]:
    """*value*'s entries keyed by the declared language each key names (written in any form langcodes
    standardises: ``CY`` is ``cy``); a key naming no declared language is reported and left out."""
    found: dict[str, tuple[Any, int]] = {}
    for key, item in value.items():
        line = value.key_lines.get(key, value.line)
        tag = _declared(loader, _tag(loader, key, line, where), languages, line, where)
        if tag is not None:
            found[tag] = (item, line)
    return found


def _tag(loader: Loader, value: Any, line: int, where: str) -> str | None:
    """*value* as a standard tag. A wrong one is reported, and read as the tag it suggests where there is one
    (`Welsh` as `cy`): the plan cannot be scheduled with the error, and what hangs on the language is still
    checked as meant, instead of failing again for the same mistake."""
    if not isinstance(value, str):
        loader.error(line, where, f"expected a language tag, found {describe(value)}",
                     "write a BCP 47 tag such as cy or en-GB")
        return None
    result = standard_language(value)
    if isinstance(result, LanguageProblem):
        loader.error(line, where, result.message, result.fix)
        return result.suggestion
    return result


def _declared(loader: Loader, tag: str | None, languages: tuple[str, ...], line: int, where: str) -> str | None:
    """The declared language *tag* names (itself, or by its alias: `en` for a declared `en-GB`); None if it
    names none (reported) or is None (reported already)."""
    if tag is None:
        return None
    tag = aliases(languages).get(tag, tag)
    if tag in languages:
        return tag
    loader.error(line, where, f"{name(tag)} ({tag}) is not one of the campaign's languages "
                 f"({', '.join(languages)})", f"write one of {', '.join(languages)}, or add {tag} to the "
                 "campaign's `languages:`")
    return None


def _account_list(loader: Loader, section: Section, languages: tuple[str, ...], where: str) -> tuple[str, ...]:
    value = section.get("languages")
    if value is None:
        return ()
    tags: list[str] = []
    for index, item, line in seq_items(value):
        tag = _declared(loader, _tag(loader, item, line, f"{where}.languages[{index + 1}]"), languages, line,
                        f"{where}.languages[{index + 1}]")
        if tag is None:
            return ()
        if tag in tags:
            loader.error(line, f"{where}.languages", f"{name(tag)} is listed twice", "list each language once")
            return ()
        tags.append(tag)
    if len(tags) < 2:
        loader.error(section.value_line("languages"), f"{where}.languages", "an account's `languages:` names at "
                     "least two, for one post in each", f"write `language: {tags[0] if tags else languages[0]}` for "
                     "an account that posts in one")
        return ()
    return tuple(tags)
