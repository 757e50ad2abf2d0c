"""Rendering a plan into drafts: one per post × account × occurrence, exactly as it will be published.

Every template (a file in ``posts/`` or a post's own ``text:``) is rendered in one locked-down Jinja
environment, :class:`~campaign.template_sandbox.TemplateSandbox`: it sees plain, read-only data (the
plan's facts, events and campaign, the post's vars), is bounded in work, time and size, reads templates
only from inside the campaign folder, and keeps ``StrictUndefined``, so a misspelt variable is an error
with the template's name and line, never a blank in a published post. Images too are read only from
inside the campaign folder (:mod:`campaign.plan.paths`).

Per-platform variants are merged and the campaign's hashtags appended here and nowhere else; every later
step (checks, preview, store, publishing) takes the draft's text as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateError, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError

from campaign import counting, twitter_text
from campaign.checks import Checker, repeated_texts, where_of
from campaign.plan import Account, Content, Occurrence, Plan, PostEntry, load_plan
from campaign.plan.languages import DEFAULT_LANGUAGE, SEPARATOR
from campaign.plan.paths import OutsideCampaign, UnusablePath, campaign_folder, inside
from campaign.plan.posts import has_own_words
from campaign.platforms import PLATFORMS, PlatformSpec
from campaign.problems import Problem
from campaign.template_sandbox import (
    DATA_ONLY_FIX,
    LIMIT_FIX,
    MAX_VALUE,
    UNDEFINED_FIX,
    CampaignLoader,
    NotSetError,
    Record,
    TemplateLimit,
    TemplateSandbox,
    event_record,
    format_clock,
    format_day,
    plain,
    size_of,
)
from campaign.times import ScheduledTime
from campaign.yamlfile import collector_paused

__all__ = [
    "Draft", "DraftImage", "RenderedPlan", "Renderer", "content_hash", "file_sha256", "format_clock", "format_day",
    "render_plan",
]


@dataclass(frozen=True)
class DraftImage:
    path: Path
    alt: str
    mime_type: str
    sha256: str


@dataclass(frozen=True)
class Draft:
    """One post for one account at one time, rendered and checked."""

    key: str
    """Stable across re-renders of the same plan: ``post-id[@date]/account-id``."""
    campaign: str
    post_id: str
    account: str
    platform: str
    handle: str
    when: ScheduledTime
    text: str
    images: tuple[DraftImage, ...]
    reply_to: str | None
    """Key of the draft this one replies to (threads)."""
    event: str | None
    template: str | None
    author: str | None
    file: str
    line: int
    length: int
    limit: int
    hashtags: tuple[str, ...]
    language: str
    """The language of the words: a standard BCP 47 tag (``en-GB``, ``cy``); for a post in several languages
    (a bilingual account's), their tags in order, comma-separated (``cy,en``)."""
    byte_length: int
    """The text's size in UTF-8 bytes."""
    byte_limit: int | None
    """The platform's limit in UTF-8 bytes, where it has one (Bluesky: 3,000)."""
    problems: tuple[Problem, ...] = field(default=())
    follows: str | None = None
    """Key of the draft in the plan's first language that this one is paired with and never goes before (the
    same post on the partner account; :mod:`campaign.plan.bilingual`)."""
    without: tuple[tuple[str, str], ...] = ()
    """In a plan with languages: each language the post is not written in, with the plan's reason (`without:`)."""

    @property
    def content_hash(self) -> str:
        """What an approval is bound to: the text, the images and their alt text, the thread parent, the
        language, the post it follows and the reasons for any language left out (see :func:`content_hash`)."""
        return content_hash(self.text, [(i.sha256, i.alt) for i in self.images], self.reply_to, self.language,
                            self.follows, self.without)

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


def content_hash(text: str, images: list[tuple[str, str]], reply_to: str | None,
                 language: str = DEFAULT_LANGUAGE, follows: str | None = None,
                 without: Sequence[tuple[str, str]] = ()) -> str:
    """The hash an approval is bound to.

    The language is part of it: a screen reader speaks a post with the voice and pronunciation of its
    language, so Welsh words labelled English are read out as nonsense, and correcting the label is a
    change someone must approve. It is left out of the hashed data when it is the default, ``en-GB``:
    every post was en-GB before plans could say otherwise, so approvals given then stay bound to the same
    hash, while any other language gives a different one.

    So is the post in the plan's first language that a paired post follows (*follows*), where it has one: an
    English post approved to go with its Welsh partner is not approved to go alone; and so are the reasons a
    post gives for a language it is not written in (*without*): the approver signs off the reason too.
    """
    data: dict[str, object] = {"text": text, "images": images, "reply_to": reply_to}
    if language != DEFAULT_LANGUAGE:
        data["language"] = language
    if follows is not None:
        data["follows"] = follows
    if without:
        data["without"] = [list(pair) for pair in without]
    payload = json.dumps(data, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@cache
def _file_sha256(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _file_sha256(path, stat.st_mtime_ns, stat.st_size)


# -- rendering ----------------------------------------------------------------------------------------------


class Renderer:
    """Renders every post of one plan."""

    def __init__(self, plan: Plan, on_failure: Callable[[], None] | None = None) -> None:
        self.plan = plan
        self.on_failure = on_failure
        """Called when a draft fails to render (:func:`render_plan` resumes the cycle collector then)."""
        self.root = campaign_folder(plan.path)
        self.env = TemplateSandbox(CampaignLoader(plan.campaign.templates, self.root))
        self.checker = Checker(plan)
        self._inline: dict[str, Template] = {}
        # What is the same for many drafts is worked out once per plan: a post goes to several accounts, and
        # most accounts take the same words.
        self._templates: dict[str, Template] = {}
        self._contents: dict[tuple[str, str | None, str | None], Content] = {}
        self._variables: dict[int, tuple[Content, dict[str, Any] | _RenderProblem]] = {}
        self._post_records: dict[tuple[str, str | None], Record] = {}
        self._language_links: dict[str, Record] = {}
        self._finished: dict[tuple[str, bool, str | None], tuple[str, str | None]] = {}
        self._measures: dict[tuple[str, str], tuple[int, tuple[str, ...], int]] = {}
        self._image_sums: dict[Path, str | _RenderProblem] = {}
        self._rendered: dict[tuple[int, str, str], str] = {}
        self._account_free: dict[tuple[str | None, str | None], bool] = {}
        campaign = plan.campaign
        self.events = {event_id: event_record(event) for event_id, event in plan.events.items()}
        self.env.globals.update(
            campaign=Record("campaign", {
                "id": campaign.id, "name": campaign.name, "timezone": campaign.zone, "starts": campaign.starts,
                "ends": campaign.ends, "hashtags": campaign.hashtags, "objective": campaign.objective,
                "audience": campaign.audience, "author": campaign.author, "language": campaign.language,
            }, "campaign's fields", title="the campaign"),
            phones=Record("phones", {
                key: Record(f"phones.{key}", {"label": phone.label, "number": phone.number}, "phone's fields",
                            shows="number")
                for key, phone in plan.phones.items()
            }, "phones"),
            links=_links_record(plan, None),
            events=Record("events", self.events, "events"),
        )

    def drafts(self) -> Iterator[Draft]:
        """Every draft of the plan, in time order, then by post and account."""
        drafts = [
            draft
            for post in self.plan.posts
            for occurrence in post.occurrences
            for account_id in post.accounts
            if (draft := self.render(post, occurrence, self.plan.accounts[account_id])) is not None
        ]
        # A paired post after the post it follows (its partner in the plan's first language).
        drafts.sort(key=lambda d: (d.when.utc, d.post_id, d.follows is not None, d.account))
        return iter(drafts)

    def render(self, post: PostEntry, occurrence: Occurrence, account: Account) -> Draft | None:
        if post.words:
            return self._render_in_languages(post, occurrence, account)
        content = self._content(post, account.platform)
        # The words of a post (or its variant) at one time are the same for every account it goes to, unless
        # its template reads `platform` or `account`: rendered once, for the first.
        shared = (id(content), post.id, occurrence.suffix)
        try:
            rendered = self._rendered.get(shared)
            context = self._context(post, occurrence, account, content) if rendered is None or content.images else {}
            if rendered is None:
                rendered = self._render_text(content, context)
                if self._same_for_every_account(content):
                    self._rendered[shared] = rendered
            images = self._images(content, context)
        except _RenderProblem as problem:
            return self._failed(post, occurrence, account, content, problem)
        tidied, text = self._finish(rendered, content)
        if text is None:
            # Checked before the hashtags are added: they go with the words, never in place of them.
            return self._failed(post, occurrence, account, content, _no_words(content, tidied))
        draft = self._draft(post, occurrence, account, content, text, images, post.language)
        return _with_problems(draft, self.checker.check(draft))

    def _render_in_languages(self, post: PostEntry, occurrence: Occurrence, account: Account) -> Draft:
        """A post of a plan with languages, for one account: the account's languages the post is written in, one
        after the other, each with its own hashtags; the images of each, once each, an image shown in several
        languages described in each. A post on the partner of an account in the plan's first language follows
        that account's post."""
        tags = [tag for tag in account.languages if tag in post.words]
        blocks: list[str] = []
        words: dict[str, str] = {}
        alts: dict[Path, list[str]] = {}
        images: list[DraftImage] = []
        for tag in tags:
            content = self._content(post, account.platform, tag)
            try:
                context = self._context(post, occurrence, account, content, tag)
                rendered = self._render_text(content, context)
                for image in self._images(content, context):
                    if image.path not in alts:
                        alts[image.path] = []
                        images.append(image)
                    alts[image.path].append(image.alt)
            except _RenderProblem as problem:
                return self._failed(post, occurrence, account, content, problem)
            tidied, text = self._finish(rendered, content, tag)
            if text is None:
                return self._failed(post, occurrence, account, content, _no_words(content, tidied))
            blocks.append(text)
            words[tag] = tidied
        first = self._content(post, account.platform, tags[0])
        images = [replace(image, alt="\n\n".join(alts[image.path])) if len(alts[image.path]) > 1 else image
                  for image in images]
        partner = self.plan.accounts.get(account.pair) if account.pair else None
        follows = None
        languages = self.plan.campaign.languages
        if partner is not None and partner.id in post.accounts and languages.index(partner.languages[0]) < \
                languages.index(account.languages[0]):
            follows = f"{post.id}{occurrence.suffix}/{partner.id}"
        draft = self._draft(post, occurrence, account, first, "\n\n".join(blocks), tuple(images),
                            SEPARATOR.join(tags), follows)
        problems = self.checker.check(draft)
        if follows is None:  # the words are compared once, on the draft in the first language the post has
            where = where_of(post.id, account.handle, account.platform)
            problems += [Problem(draft.file, draft.line, where, message, fix)
                         for message, fix in self.checker.same_facts(self._words_of(post, occurrence, account, words))]
        return _with_problems(draft, problems)

    def _words_of(self, post: PostEntry, occurrence: Occurrence, account: Account,
                  rendered: dict[str, str]) -> dict[str, str]:
        """The words of *post* in each language it is written in, as rendered for *account*'s platform: those of
        *rendered* (the account's own languages, rendered already) and the others rendered now (a language that
        fails to render is reported with its own draft, and left out here)."""
        words: dict[str, str] = {}
        for tag in post.words:
            if tag in rendered:
                words[tag] = rendered[tag]
                continue
            content = self._content(post, account.platform, tag)
            try:
                words[tag] = _tidy(self._render_text(content, self._context(post, occurrence, account, content, tag)))
            except _RenderProblem:
                continue
        return words

    def _images(self, content: Content, context: dict[str, Any]) -> tuple[DraftImage, ...]:
        # Alt text may quote facts too ({{ phones.helpline }}), so it is rendered like the words.
        return tuple(
            DraftImage(image.file, self._render_alt(image.alt, context), image.mime_type,
                       self._image_sha256(image.file))
            for image in content.images or ()
        )

    def _draft(self, post: PostEntry, occurrence: Occurrence, account: Account, content: Content, text: str,
               images: tuple[DraftImage, ...], language: str, follows: str | None = None) -> Draft:
        spec = PLATFORMS[account.platform]
        length, hashtags, byte_length = self._measure(spec, text)
        reply_to = f"{post.reply_to}/{account.id}" if post.reply_to else None
        # Draft(...) as its fields, at once: a frozen dataclass sets each of its 25 fields through
        # object.__setattr__, four times the cost, and a plan has 10,000 drafts (tests/test_plan_shared_work.py
        # holds every draft to what Draft(...) makes).
        draft: Draft = object.__new__(Draft)
        draft.__dict__.update(
            key=f"{post.id}{occurrence.suffix}/{account.id}",
            campaign=self.plan.campaign.id,
            post_id=post.id,
            account=account.id,
            platform=account.platform,
            handle=account.handle,
            when=occurrence.when,
            text=text,
            images=images,
            reply_to=reply_to,
            event=post.event,
            template=content.template,
            author=post.author or self.plan.campaign.author,
            file=str(self.plan.path),
            line=content.line,
            length=length,
            limit=spec.max_length,
            hashtags=hashtags,
            language=language,
            byte_length=byte_length,
            byte_limit=spec.max_bytes,
            problems=(),
            follows=follows,
            without=tuple(post.without.items()),
        )
        return draft

    def _content(self, post: PostEntry, platform: str, language: str | None = None) -> Content:
        """What *post* says on *platform* (in *language*, in a plan with languages), its variant merged in: once
        per post, variant and language."""
        if language is not None:
            key: tuple[str, str | None, str | None] = (post.id, platform, language)
            content = self._contents.get(key)
            if content is None:
                content = self._contents[key] = post.words[language].merged(
                    post.language_variants.get((platform, language)))
            return content
        key = (post.id, platform if platform in post.variants else None, None)
        content = self._contents.get(key)
        if content is None:
            content = self._contents[key] = post.content.merged(post.variants.get(platform))
        return content

    def _context(self, post: PostEntry, occurrence: Occurrence, account: Account, content: Content,
                 language: str | None = None) -> dict[str, Any]:
        """What a template sees for *post* on *account* (its words in *language*, in a plan with languages)."""
        variables = self._variables_of(content)
        record = self._post_records.get((post.id, language))
        if record is None:
            record = self._post_records[(post.id, language)] = Record(
                "post", {"id": post.id, "language": language or post.language}, "post's fields",
                title=f"the post {post.id!r}")
        context: dict[str, Any] = {
            "post": record,
            "when": occurrence.when.local,
            "platform": account.platform,
            "account": account.handle,
        }
        if post.event is not None and post.event in self.events:
            context["event"] = self.events[post.event]
        if language is not None:
            context["links"] = self._links_in(language)
        context.update(variables)
        return context

    def _links_in(self, language: str) -> Record:
        """The plan's links as the words in *language* print them: each link's version in that language, where
        the plan gives one (`facts.links.advice.cy`)."""
        record = self._language_links.get(language)
        if record is None:
            record = self._language_links[language] = _links_record(self.plan, language)
        return record

    def _variables_of(self, content: Content) -> dict[str, Any]:
        """*content*'s vars as templates see them (:func:`_variables`): once per post and variant."""
        known = self._variables.get(id(content))
        if known is None:
            variables: dict[str, Any] | _RenderProblem
            try:
                variables = _variables(content)
            except _RenderProblem as problem:
                variables = problem
            known = self._variables[id(content)] = (content, variables)  # keeps the content, and so its id
        variables = known[1]
        if isinstance(variables, _RenderProblem):
            raise variables.again()
        return variables

    def _finish(self, rendered: str, content: Content, language: str | None = None) -> tuple[str, str | None]:
        """The rendered text tidied, and the post's text: tidied, with the campaign's hashtags (*language*'s, in
        a plan with languages; None if it has no words of its own). Once per distinct text."""
        key = (rendered, content.hashtags is False, language)
        finished = self._finished.get(key)
        if finished is None:
            tidied = _tidy(rendered)
            campaign = self.plan.campaign
            tags = campaign.language_hashtags[language] if language is not None else campaign.hashtags
            text = self._with_hashtags(tidied, content, tags) if has_own_words(tidied) else None
            finished = self._finished[key] = (tidied, text)
        return finished

    def _measure(self, spec: PlatformSpec, text: str) -> tuple[int, tuple[str, ...], int]:
        """How long *text* is as *spec*'s platform counts it, its hashtags and its size in UTF-8 bytes: once per
        counting rule and distinct text."""
        key = (spec.counting, text)
        measures = self._measures.get(key)
        if measures is None:
            measures = self._measures[key] = (counting.length(spec, text),
                                              tuple(twitter_text.extract_hashtags(text)), counting.utf8_bytes(text))
        return measures

    def _render_text(self, content: Content, context: dict[str, Any]) -> str:
        if content.template is not None:
            return self._render(lambda: self._template(content.template or ""), context, content.template)
        return self._render(lambda: self._compiled(content.text or ""), context, None)

    def _render_alt(self, alt: str, context: dict[str, Any]) -> str:
        if "{" not in alt:
            return composed(alt)
        try:
            return composed(self._render(lambda: self._compiled(alt), context, None).strip())
        except _RenderProblem as problem:
            raise _RenderProblem(1, f"in an image's alt text: {problem.message}", problem.fix) from None

    def _same_for_every_account(self, content: Content) -> bool:
        """Whether *content*'s words, rendered, are the same for every account: its template (already rendered
        once) reads neither `platform` nor `account` (see :func:`_account_free`). Once per template."""
        key = (content.template, None if content.template is not None else content.text)
        known = self._account_free.get(key)
        if known is None:
            if content.template is not None:
                assert self.env.loader is not None
                source = self.env.loader.get_source(self.env, content.template)[0]
            else:
                source = content.text or ""
            known = self._account_free[key] = _account_free(self.env.parse(source))
        return known

    def _template(self, name: str) -> Template:
        """The template *name* from the templates folder, loaded (and checked) once per plan."""
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = _flattened(self.env.get_template(name))
        return template

    def _compiled(self, source: str) -> Template:
        template = self._inline.get(source)
        if template is None:
            template = self._inline[source] = _flattened(self.env.compiled(source))
        return template

    def _render(self, load: Callable[[], Template], context: dict[str, Any], name: str | None) -> str:
        try:
            return self.env.render(load(), context)
        except TemplateSyntaxError as exc:
            raise _RenderProblem(exc.lineno or 1, f"template syntax: {exc.message}") from None
        except TemplateLimit as exc:
            raise _RenderProblem(_template_line(exc, name), _explain(exc), exc.fix) from None
        except SecurityError as exc:
            raise _RenderProblem(_template_line(exc, name), _explain(exc), DATA_ONLY_FIX) from None
        except TemplateNotFound as exc:
            raise _RenderProblem(_template_line(exc, name), f"there is no template {exc.name!r} in the templates "
                                 "folder", "include or import only templates in the templates folder") from None
        except NotSetError as exc:
            raise _RenderProblem(_template_line(exc, name), _explain(exc), exc.fix) from None
        except TemplateError as exc:
            raise _RenderProblem(_template_line(exc, name), _explain(exc)) from None
        except RecursionError as exc:
            raise _RenderProblem(_template_line(exc, name), "it includes, imports or calls itself without end",
                                 LIMIT_FIX) from None
        except Exception as exc:  # noqa: BLE001 - any error inside a template is the author's to fix
            raise _RenderProblem(_template_line(exc, name), f"{type(exc).__name__}: {exc}") from None

    def _image_sha256(self, path: Path) -> str:
        """The checksum of an image the plan names, read only from inside the campaign folder: once per plan."""
        known = self._image_sums.get(path)
        if known is None:
            known = self._image_sums[path] = self._read_sha256(path)
        if isinstance(known, _RenderProblem):
            raise known.again()
        return known

    def _read_sha256(self, path: Path) -> str | _RenderProblem:
        try:
            return file_sha256(inside(path, self.root, path.name))
        except (OutsideCampaign, UnusablePath) as problem:
            return _RenderProblem(1, f"the image {problem.message}", problem.fix, in_plan=True)
        except OSError as exc:
            return _RenderProblem(1, f"the image {path.name!r} cannot be read: {exc.strerror or exc}",
                                  "check that the file is there and readable", in_plan=True)

    @staticmethod
    def _with_hashtags(text: str, content: Content, campaign_tags: tuple[str, ...]) -> str:
        if content.hashtags is False:
            return text
        present = {tag.lower() for tag in twitter_text.extract_hashtags(text)}
        missing_tags = [f"#{tag}" for tag in campaign_tags if tag.lower() not in present]
        if not missing_tags:
            return text
        return f"{text}\n\n{' '.join(missing_tags)}" if text else " ".join(missing_tags)

    def _failed(self, post: PostEntry, occurrence: Occurrence, account: Account, content: Content,
                problem: _RenderProblem) -> Draft:
        if self.on_failure is not None:
            self.on_failure()
        if problem.in_plan:
            file, line = str(self.plan.path), content.line
        elif content.template is not None:
            file = str(self.plan.campaign.templates / content.template)
            line = problem.line
        else:
            # A block scalar (`text: |`) starts on the line after its key.
            file, line = str(self.plan.path), content.line + problem.line - (0 if content.text_starts_below else 1)
        where = where_of(post.id, account.handle, account.platform)
        failure = Problem(file, line, where, problem.message, problem.fix)
        spec = PLATFORMS[account.platform]
        return Draft(
            key=f"{post.id}{occurrence.suffix}/{account.id}", campaign=self.plan.campaign.id, post_id=post.id,
            account=account.id, platform=account.platform, handle=account.handle, when=occurrence.when,
            text="", images=(), reply_to=None, event=post.event, template=content.template,
            author=post.author, file=str(self.plan.path), line=content.line, length=0, limit=spec.max_length,
            hashtags=(), language=post.language, byte_length=0, byte_limit=spec.max_bytes,
            problems=(failure,), follows=None, without=(),
        )


def _links_record(plan: Plan, language: str | None) -> Record:
    """The plan's links as templates see them (each prints as its URL: its version in *language*, if any)."""
    return Record("links", {
        key: Record(f"links.{key}", {"label": link.label, "url": link.in_language(language)}, "link's fields",
                    shows="url")
        for key, link in plan.links.items()
    }, "links")


class _RenderProblem(Exception):
    def __init__(self, line: int, message: str, fix: str = UNDEFINED_FIX, in_plan: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.message = " ".join(message.split())
        self.fix = fix
        self.in_plan = in_plan
        """The problem is with the plan's own lines (a var, an image), not the template's."""

    def again(self) -> _RenderProblem:
        """The same problem, to raise again for another draft."""
        return _RenderProblem(self.line, self.message, self.fix, self.in_plan)


_PER_ACCOUNT = frozenset({"platform", "account"})
"""What a template sees that differs from one account of a post to another."""


def _account_free(template: nodes.Template) -> bool:
    """Whether a template renders the same for every account of a post: it reads neither `platform` nor
    `account`, includes, imports or extends no other template (which might), and picks nothing at random
    (`| random`, or `| map` which could name it)."""
    if any(template.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return False
    if any(node.name in ("random", "map") for node in template.find_all(nodes.Filter)):
        return False
    return not meta.find_undeclared_variables(template) & _PER_ACCOUNT


def _flattened(template: Template) -> Template:
    """*template*, its globals copied into one mapping.

    Jinja keeps a template's globals as a ChainMap over the environment's, and copies them, key by key in
    Python, into a new context for every render; the renderer sets the environment's globals before it
    loads any template and never changes them, so one plain dict holds the same and is copied in C.
    """
    template.globals = dict(template.globals)
    return template


def _variables(content: Content) -> dict[str, Any]:
    """The post's vars as templates see them (:func:`plain`); a value too large is a problem in the plan."""
    variables: dict[str, Any] = {}
    memo: dict[int, Any] = {}
    for name, value in content.vars.items():
        variables[str(name)] = value = plain(value, memo)
        if size_of(value) > MAX_VALUE:
            raise _RenderProblem(1, f"the value of vars.{name} is over {MAX_VALUE:,} characters", "shorten it",
                                 in_plan=True)
    return variables


def _no_words(content: Content, text: str) -> _RenderProblem:
    """The problem with a post whose template or text (with `{{ }}`) prints no words of its own: at the line of
    the plan that names the template, or of the text."""
    printed = "nothing" if not text else "only hashtags or punctuation"
    if content.template is not None:
        return _RenderProblem(1, f"the template {content.template!r} prints {printed} for this post, no words of "
                              "its own", "make it print what the post says (check its {% if %}s and the values it "
                              "prints); the campaign's hashtags are added to the words, not in place of them",
                              in_plan=True)
    return _RenderProblem(1, f"the text prints {printed} for this post, no words of its own",
                          "write what the post says (check its {% if %}s and the values it prints); the campaign's "
                          "hashtags are added to the words, not in place of them", in_plan=True)


def _template_line(exc: BaseException, name: str | None) -> int:
    """The line of the template (*name*, or inline text) the error was raised at."""
    suffix = name or "<template>"
    line = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(suffix) or frame.filename == "<template>":
            line = frame.lineno or line
    return line


def _explain(exc: TemplateError) -> str:
    return exc.message or str(exc)


def _tidy(text: str) -> str:
    """*text* without trailing spaces or runs of blank lines, its characters composed (NFC): a Welsh ŵ typed as w
    and a combining circumflex is one character, counted as one and sent as one, and found again by a lookup on
    a platform that composes what it stores (X does)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return composed(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)))


def composed(text: str) -> str:
    """*text* in Unicode normal form C (ASCII always is)."""
    return text if text.isascii() or unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _with_problems(draft: Draft, problems: list[Problem]) -> Draft:
    return replace(draft, problems=tuple(problems)) if problems else draft


@dataclass(frozen=True)
class RenderedPlan:
    """A plan file loaded, rendered and checked: every draft and every problem, in one go."""

    path: Path
    plan: Plan | None
    drafts: tuple[Draft, ...]
    problems: tuple[Problem, ...]
    """Problems of the plan itself, then of each draft."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.errors


def render_plan(path: Path | str, now: datetime | None = None) -> RenderedPlan:
    """Load the plan at *path*, render every post for every account and check each one. A post whose time is
    before *now* (default: this moment) is a warning."""
    # Reading, rendering and checking a plan makes objects that live to the end, and no cycles until a draft
    # fails (then the collector is back on): see collector_paused.
    with collector_paused() as pause:
        plan, problems = load_plan(path, now)
        drafts = tuple(Renderer(plan, on_failure=pause.resume).drafts()) if plan is not None else ()
        repeats = repeated_texts(drafts)
    if repeats:
        drafts = tuple(_with_problems(d, [*d.problems, *repeats[d.key]]) if d.key in repeats else d for d in drafts)
    # The same problem can come from several drafts of one post (a daily slot): report it once.
    all_problems = dict.fromkeys([*problems, *(p for draft in drafts for p in draft.problems)])
    return RenderedPlan(Path(path), plan, drafts, tuple(all_problems))
