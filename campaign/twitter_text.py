"""X (Twitter) post parsing: weighted length, hashtags and URLs, as twitter-text v3 does it.

This module is a Python port of twitter-text (https://github.com/twitter/twitter-text),
Copyright 2018 Twitter, Inc., licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0). The regular expressions, the TLD lists, the
URL/hashtag extraction rules and the ``parseTweet`` weighting loop follow the reference
JavaScript implementation (twitter-text 3.1.0, ``js/src``), quirks included; the emoji rule
follows the structure of twemoji-parser's regex (which ``parseTweet`` uses), written with
Unicode emoji properties so that emoji newer than its generated list are one unit too. The
conformance tests in ``tests/conformance/twitter-text`` are twitter-text's own.

Indices: :class:`Entity` ``start``/``end`` are Python ``str`` (code point) indices. The ranges
in :class:`ParsedTweet` are UTF-16 code unit indices (inclusive ends), as twitter-text's JS and
Java report them and as the conformance data expects. Internally URLs are found on the text as
UTF-16 code units, as JavaScript sees it, because that changes which URLs are found next to
astral characters such as emoji.

Cost: the URL regexes embed ~1,600 TLDs and are compiled on first use (~0.1 s), not at import.
Like upstream's, the URL scan is quadratic in the length of a single space-free run of dotted
labels with no TLD in it (about 0.1 s for a 500-character one).
"""

from __future__ import annotations

import array
import bisect
import functools
import math
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import regex

__all__ = [
    "CONFIG_V3",
    "Entity",
    "ParsedTweet",
    "TwitterTextConfig",
    "WeightedRange",
    "extract_hashtags",
    "extract_hashtags_with_indices",
    "extract_urls",
    "extract_urls_with_indices",
    "parse_tweet",
]


# --------------------------------------------------------------------------------------------
# Configuration (twitter-text config/v3.json)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightedRange:
    """Code points ``start``..``end`` (inclusive) weigh ``weight``."""

    start: int
    end: int
    weight: int


@dataclass(frozen=True)
class TwitterTextConfig:
    """A twitter-text counting configuration (the fields of ``config/v3.json``)."""

    version: int
    max_weighted_tweet_length: int
    scale: int
    default_weight: int
    emoji_parsing_enabled: bool
    transformed_url_length: int
    ranges: tuple[WeightedRange, ...]


#: twitter-text's ``config/v3.json``: 280 weighted characters; Latin, General Punctuation
#: spaces/quotes/hyphens count 1, everything else (CJK, emoji, ...) 2, every URL 23.
CONFIG_V3 = TwitterTextConfig(
    version=3,
    max_weighted_tweet_length=280,
    scale=100,
    default_weight=200,
    emoji_parsing_enabled=True,
    transformed_url_length=23,
    ranges=(
        WeightedRange(start=0, end=4351, weight=100),
        WeightedRange(start=8192, end=8205, weight=100),
        WeightedRange(start=8208, end=8223, weight=100),
        WeightedRange(start=8242, end=8247, weight=100),
    ),
)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedTweet:
    """The result of :func:`parse_tweet` (twitter-text's ``parseTweet``).

    The four range fields are UTF-16 code unit indices with inclusive ends, as in twitter-text.
    """

    weighted_length: int
    valid: bool
    permillage: int
    display_range_start: int
    display_range_end: int
    valid_range_start: int
    valid_range_end: int


@dataclass(frozen=True)
class Entity:
    """A hashtag or URL found in a text.

    ``text`` is the hashtag without its ``#`` or the URL as written; ``start``/``end`` are
    Python ``str`` indices of the whole entity (a hashtag's span includes its ``#``), so
    ``text[start:end]`` is the entity. One upstream quirk is kept: for a URL without protocol
    whose host mixes an ASCII domain with non-ASCII labels after it and has a path (say
    ``example.comテスト.みんな/path``), ``text`` is the ASCII domain plus the path while the span
    covers the whole host.
    """

    text: str
    start: int
    end: int


# --------------------------------------------------------------------------------------------
# Character classes (js/src/regexp/*.js)
# --------------------------------------------------------------------------------------------

# spacesGroup.js
_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
# invalidCharsGroup.js: characters that make a post invalid.
_INVALID_CHARS = r"\uFFFE\uFEFF\uFFFF"
_INVALID_CHAR_SET = frozenset("\ufffe\ufeff\uffff")
# directionalMarkersGroup.js
_DIRECTIONAL_MARKERS = r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069"
# punct.js (note: it has no '"' and no '`', exactly as upstream)
_PUNCT = r"!'#%&'()*+,\\\-./:;<=>?@\[\]\^_{|}~$"
# latinAccentChars.js
_LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263"
    r"\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
# cyrillicLettersAndMarks.js
_CYRILLIC = r"\u0400-\u04FF"

# Hashtags. twitter-text's generated letter/mark and numeral tables are Unicode's \p{L}\p{M} and
# \p{Nd} (of an older Unicode version) plus a few private-use code points, kept here.
_HASHTAG_EXTRA_LETTERS = r"\uF870-\uF87F\uF882\uF884-\uF89F\uF8B8\uF8C1-\uF8D6"
_HASHTAG_LETTERS_AND_MARKS = r"\p{L}\p{M}" + _HASHTAG_EXTRA_LETTERS
_HASHTAG_NUMERALS = r"\p{Nd}"
# hashtagSpecialChars.js
_HASHTAG_SPECIAL = (
    r"_\u200C\u200D\uA67E\u05BE\u05F3\u05F4\uFF5E\u301C\u309B\u309C\u30A0\u30FB\u3003"
    r"\u0F0B\u0F0C\xB7"
)
_HASHTAG_ALPHA = "[" + _HASHTAG_LETTERS_AND_MARKS + "]"
_HASHTAG_ALNUM_CHARS = _HASHTAG_LETTERS_AND_MARKS + _HASHTAG_NUMERALS + _HASHTAG_SPECIAL
_HASHTAG_ALNUM = "[" + _HASHTAG_ALNUM_CHARS + "]"

# --------------------------------------------------------------------------------------------
# TLDs (validGTLD.js, validCCTLD.js), as upstream lists them
# --------------------------------------------------------------------------------------------

_GTLDS = (
    "삼성|닷컴|닷넷|香格里拉|餐厅|食品|飞利浦|電訊盈科|集团|通販|购物|谷歌|诺基亚|联通|网络|网站|网店|网址|组织机构|移动|珠宝|点看|游戏|淡马锡|机构|書籍|时尚|新闻|"
    "政府|政务|招聘|手表|手机|我爱你|慈善|微博|广东|工行|家電|娱乐|天主教|大拿|大众汽车|在线|嘉里大酒店|嘉里|商标|商店|商城|公益|公司|八卦|健康|信息|佛山|企业|"
    "中文网|中信|世界|ポイント|ファッション|セール|ストア|コム|グーグル|クラウド|みんな|คอม|संगठन|नेट|कॉम|همراه|موقع|موبايلي|كوم|"
    "كاثوليك|عرب|شبكة|بيتك|بازار|العليان|ارامكو|اتصالات|ابوظبي|קום|сайт|рус|орг|онлайн|москва|ком|"
    "католик|дети|zuerich|zone|zippo|zip|zero|zara|zappos|yun|youtube|you|yokohama|yoga|yodobashi|"
    "yandex|yamaxun|yahoo|yachts|xyz|xxx|xperia|xin|xihuan|xfinity|xerox|xbox|wtf|wtc|wow|world|"
    "works|work|woodside|wolterskluwer|wme|winners|wine|windows|win|williamhill|wiki|wien|whoswho|"
    "weir|weibo|wedding|wed|website|weber|webcam|weatherchannel|weather|watches|watch|warman|"
    "wanggou|wang|walter|walmart|wales|vuelos|voyage|voto|voting|vote|volvo|volkswagen|vodka|"
    "vlaanderen|vivo|viva|vistaprint|vista|vision|visa|virgin|vip|vin|villas|viking|vig|video|"
    "viajes|vet|versicherung|vermögensberatung|vermögensberater|verisign|ventures|vegas|vanguard|"
    "vana|vacations|ups|uol|uno|university|unicom|uconnect|ubs|ubank|tvs|tushu|tunes|tui|tube|trv|"
    "trust|travelersinsurance|travelers|travelchannel|travel|training|trading|trade|toys|toyota|"
    "town|tours|total|toshiba|toray|top|tools|tokyo|today|tmall|tkmaxx|tjx|tjmaxx|tirol|tires|tips|"
    "tiffany|tienda|tickets|tiaa|theatre|theater|thd|teva|tennis|temasek|telefonica|telecity|tel|"
    "technology|tech|team|tdk|tci|taxi|tax|tattoo|tatar|tatamotors|target|taobao|talk|taipei|tab|"
    "systems|symantec|sydney|swiss|swiftcover|swatch|suzuki|surgery|surf|support|supply|supplies|"
    "sucks|style|study|studio|stream|store|storage|stockholm|stcgroup|stc|statoil|statefarm|"
    "statebank|starhub|star|staples|stada|srt|srl|spreadbetting|spot|sport|spiegel|space|soy|sony|"
    "song|solutions|solar|sohu|software|softbank|social|soccer|sncf|smile|smart|sling|skype|sky|"
    "skin|ski|site|singles|sina|silk|shriram|showtime|show|shouji|shopping|shop|shoes|shiksha|shia|"
    "shell|shaw|sharp|shangrila|sfr|sexy|sex|sew|seven|ses|services|sener|select|seek|security|"
    "secure|seat|search|scot|scor|scjohnson|science|schwarz|schule|school|scholarships|schmidt|"
    "schaeffler|scb|sca|sbs|sbi|saxo|save|sas|sarl|sapo|sap|sanofi|sandvikcoromant|sandvik|samsung|"
    "samsclub|salon|sale|sakura|safety|safe|saarland|ryukyu|rwe|run|ruhr|rugby|rsvp|room|rogers|"
    "rodeo|rocks|rocher|rmit|rip|rio|ril|rightathome|ricoh|richardli|rich|rexroth|reviews|review|"
    "restaurant|rest|republican|report|repair|rentals|rent|ren|reliance|reit|reisen|reise|rehab|"
    "redumbrella|redstone|red|recipes|realty|realtor|realestate|read|raid|radio|racing|qvc|quest|"
    "quebec|qpon|pwc|pub|prudential|pru|protection|property|properties|promo|progressive|prof|"
    "productions|prod|pro|prime|press|praxi|pramerica|post|porn|politie|poker|pohl|pnc|plus|"
    "plumbing|playstation|play|place|pizza|pioneer|pink|ping|pin|pid|pictures|pictet|pics|piaget|"
    "physio|photos|photography|photo|phone|philips|phd|pharmacy|pfizer|pet|pccw|pay|passagens|"
    "party|parts|partners|pars|paris|panerai|panasonic|pamperedchef|page|ovh|ott|otsuka|osaka|"
    "origins|orientexpress|organic|org|orange|oracle|open|ooo|onyourside|online|onl|ong|one|omega|"
    "ollo|oldnavy|olayangroup|olayan|okinawa|office|off|observer|obi|nyc|ntt|nrw|nra|nowtv|nowruz|"
    "now|norton|northwesternmutual|nokia|nissay|nissan|ninja|nikon|nike|nico|nhk|ngo|nfl|nexus|"
    "nextdirect|next|news|newholland|new|neustar|network|netflix|netbank|net|nec|nba|navy|natura|"
    "nationwide|name|nagoya|nadex|nab|mutuelle|mutual|museum|mtr|mtpc|mtn|msd|movistar|movie|mov|"
    "motorcycles|moto|moscow|mortgage|mormon|mopar|montblanc|monster|money|monash|mom|moi|moe|moda|"
    "mobily|mobile|mobi|mma|mls|mlb|mitsubishi|mit|mint|mini|mil|microsoft|miami|metlife|merckmsd|"
    "meo|menu|men|memorial|meme|melbourne|meet|media|med|mckinsey|mcdonalds|mcd|mba|mattel|"
    "maserati|marshalls|marriott|markets|marketing|market|map|mango|management|man|makeup|maison|"
    "maif|madrid|macys|luxury|luxe|lupin|lundbeck|ltda|ltd|lplfinancial|lpl|love|lotto|lotte|"
    "london|lol|loft|locus|locker|loans|loan|llp|llc|lixil|living|live|lipsy|link|linde|lincoln|"
    "limo|limited|lilly|like|lighting|lifestyle|lifeinsurance|life|lidl|liaison|lgbt|lexus|lego|"
    "legal|lefrak|leclerc|lease|lds|lawyer|law|latrobe|latino|lat|lasalle|lanxess|landrover|land|"
    "lancome|lancia|lancaster|lamer|lamborghini|ladbrokes|lacaixa|kyoto|kuokgroup|kred|krd|kpn|"
    "kpmg|kosher|komatsu|koeln|kiwi|kitchen|kindle|kinder|kim|kia|kfh|kerryproperties|"
    "kerrylogistics|kerryhotels|kddi|kaufen|juniper|juegos|jprs|jpmorgan|joy|jot|joburg|jobs|jnj|"
    "jmp|jll|jlc|jio|jewelry|jetzt|jeep|jcp|jcb|java|jaguar|iwc|iveco|itv|itau|istanbul|ist|"
    "ismaili|iselect|irish|ipiranga|investments|intuit|international|intel|int|insure|insurance|"
    "institute|ink|ing|info|infiniti|industries|inc|immobilien|immo|imdb|imamat|ikano|iinet|ifm|"
    "ieee|icu|ice|icbc|ibm|hyundai|hyatt|hughes|htc|hsbc|how|house|hotmail|hotels|hoteles|hot|"
    "hosting|host|hospital|horse|honeywell|honda|homesense|homes|homegoods|homedepot|holiday|"
    "holdings|hockey|hkt|hiv|hitachi|hisamitsu|hiphop|hgtv|hermes|here|helsinki|help|healthcare|"
    "health|hdfcbank|hdfc|hbo|haus|hangout|hamburg|hair|guru|guitars|guide|guge|gucci|guardian|"
    "group|grocery|gripe|green|gratis|graphics|grainger|gov|got|gop|google|goog|goodyear|goodhands|"
    "goo|golf|goldpoint|gold|godaddy|gmx|gmo|gmbh|gmail|globo|global|gle|glass|glade|giving|gives|"
    "gifts|gift|ggee|george|genting|gent|gea|gdn|gbiz|gay|garden|gap|games|game|gallup|gallo|"
    "gallery|gal|fyi|futbol|furniture|fund|fun|fujixerox|fujitsu|ftr|frontier|frontdoor|frogans|"
    "frl|fresenius|free|fox|foundation|forum|forsale|forex|ford|football|foodnetwork|food|foo|fly|"
    "flsmidth|flowers|florist|flir|flights|flickr|fitness|fit|fishing|fish|firmdale|firestone|fire|"
    "financial|finance|final|film|fido|fidelity|fiat|ferrero|ferrari|feedback|fedex|fast|fashion|"
    "farmers|farm|fans|fan|family|faith|fairwinds|fail|fage|extraspace|express|exposed|expert|"
    "exchange|everbank|events|eus|eurovision|etisalat|esurance|estate|esq|erni|ericsson|equipment|"
    "epson|epost|enterprises|engineering|engineer|energy|emerck|email|education|edu|edeka|eco|eat|"
    "earth|dvr|dvag|durban|dupont|duns|dunlop|duck|dubai|dtv|drive|download|dot|doosan|domains|"
    "doha|dog|dodge|doctor|docs|dnp|diy|dish|discover|discount|directory|direct|digital|diet|"
    "diamonds|dhl|dev|design|desi|dentist|dental|democrat|delta|deloitte|dell|delivery|degree|"
    "deals|dealer|deal|dds|dclk|day|datsun|dating|date|data|dance|dad|dabur|cyou|cymru|cuisinella|"
    "csc|cruises|cruise|crs|crown|cricket|creditunion|creditcard|credit|cpa|courses|coupons|coupon|"
    "country|corsica|coop|cool|cookingchannel|cooking|contractors|contact|consulting|construction|"
    "condos|comsec|computer|compare|company|community|commbank|comcast|com|cologne|college|coffee|"
    "codes|coach|clubmed|club|cloud|clothing|clinique|clinic|click|cleaning|claims|cityeats|city|"
    "citic|citi|citadel|cisco|circle|cipriani|church|chrysler|chrome|christmas|chloe|chintai|cheap|"
    "chat|chase|charity|channel|chanel|cfd|cfa|cern|ceo|center|ceb|cbs|cbre|cbn|cba|catholic|"
    "catering|cat|casino|cash|caseih|case|casa|cartier|cars|careers|career|care|cards|caravan|car|"
    "capitalone|capital|capetown|canon|cancerresearch|camp|camera|cam|calvinklein|call|cal|cafe|"
    "cab|bzh|buzz|buy|business|builders|build|bugatti|budapest|brussels|brother|broker|broadway|"
    "bridgestone|bradesco|box|boutique|bot|boston|bostik|bosch|boots|booking|book|boo|bond|bom|"
    "bofa|boehringer|boats|bnpparibas|bnl|bmw|bms|blue|bloomberg|blog|blockbuster|blanco|"
    "blackfriday|black|biz|bio|bingo|bing|bike|bid|bible|bharti|bet|bestbuy|best|berlin|bentley|"
    "beer|beauty|beats|bcn|bcg|bbva|bbt|bbc|bayern|bauhaus|basketball|baseball|bargains|barefoot|"
    "barclays|barclaycard|barcelona|bar|bank|band|bananarepublic|banamex|baidu|baby|azure|axa|aws|"
    "avianca|autos|auto|author|auspost|audio|audible|audi|auction|attorney|athleta|associates|asia|"
    "asda|arte|art|arpa|army|archi|aramco|arab|aquarelle|apple|app|apartments|aol|anz|anquan|"
    "android|analytics|amsterdam|amica|amfam|amex|americanfamily|americanexpress|alstom|alsace|"
    "ally|allstate|allfinanz|alipay|alibaba|alfaromeo|akdn|airtel|airforce|airbus|aigo|aig|agency|"
    "agakhan|africa|afl|afamilycompany|aetna|aero|aeg|adult|ads|adac|actor|active|aco|accountants|"
    "accountant|accenture|academy|abudhabi|abogado|able|abc|abbvie|abbott|abb|abarth|aarp|aaa|"
    "onion"
)

_CCTLDS = (
    "한국|香港|澳門|新加坡|台灣|台湾|中國|中国|გე|ລາວ|ไทย|ලංකා|ഭാരതം|ಭಾರತ|భారత్|சிங்கப்பூர்|இலங்கை|இந்தியா|ଭାରତ|"
    "ભારત|ਭਾਰਤ|ভাৰত|ভারত|বাংলা|भारोत|भारतम्|भारत|ڀارت|پاکستان|موريتانيا|مليسيا|مصر|قطر|فلسطين|عمان|"
    "عراق|سورية|سودان|تونس|بھارت|بارت|ایران|امارات|المغرب|السعودية|الجزائر|البحرين|الاردن|հայ|қаз|"
    "укр|срб|рф|мон|мкд|ею|бел|бг|ευ|ελ|zw|zm|za|yt|ye|ws|wf|vu|vn|vi|vg|ve|vc|va|uz|uy|us|um|uk|"
    "ug|ua|tz|tw|tv|tt|tr|tp|to|tn|tm|tl|tk|tj|th|tg|tf|td|tc|sz|sy|sx|sv|su|st|ss|sr|so|sn|sm|sl|"
    "sk|sj|si|sh|sg|se|sd|sc|sb|sa|rw|ru|rs|ro|re|qa|py|pw|pt|ps|pr|pn|pm|pl|pk|ph|pg|pf|pe|pa|om|"
    "nz|nu|nr|np|no|nl|ni|ng|nf|ne|nc|na|mz|my|mx|mw|mv|mu|mt|ms|mr|mq|mp|mo|mn|mm|ml|mk|mh|mg|mf|"
    "me|md|mc|ma|ly|lv|lu|lt|ls|lr|lk|li|lc|lb|la|kz|ky|kw|kr|kp|kn|km|ki|kh|kg|ke|jp|jo|jm|je|it|"
    "is|ir|iq|io|in|im|il|ie|id|hu|ht|hr|hn|hm|hk|gy|gw|gu|gt|gs|gr|gq|gp|gn|gm|gl|gi|gh|gg|gf|ge|"
    "gd|gb|ga|fr|fo|fm|fk|fj|fi|eu|et|es|er|eh|eg|ee|ec|dz|do|dm|dk|dj|de|cz|cy|cx|cw|cv|cu|cr|co|"
    "cn|cm|cl|ck|ci|ch|cg|cf|cd|cc|ca|bz|by|bw|bv|bt|bs|br|bq|bo|bn|bm|bl|bj|bi|bh|bg|bf|be|bd|bb|"
    "ba|az|ax|aw|au|at|as|ar|aq|ao|an|am|al|ai|ag|af|ae|ad|ac"
)

# --------------------------------------------------------------------------------------------
# URL regular expressions (extractUrl.js and the files it is built from)
# --------------------------------------------------------------------------------------------
# They embed the TLD lists, which makes them slow to compile (~0.1 s), so they are built and
# compiled on first use rather than at import.

# JS `$` (no m flag) is Python `\Z`; Python's `$` would also match before a final newline.
_TLD_END = r"(?=[^0-9a-zA-Z@+-]|\Z)"


def _alternation_trie(words: list[str]) -> str:
    """A regex matching the same strings as ``word1|word2|...``, written as a trie.

    The `regex` module tries the branches of a plain alternation one by one, which for ~1,300
    TLDs is slow; the trie tries one branch per character. Longer words come before their
    prefixes (the optional group is greedy), as in upstream's reverse-sorted lists.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


class _UrlPatterns:
    """The URL regexes, each built and compiled on first use: the one for links without a protocol is
    needed only where such a link appears, and a plan's links are written with https:// (the checks
    require it), so checking a plan usually compiles only the first and the smallest of the three."""

    def __init__(self) -> None:
        self._sources: dict[str, str] | None = None

    def _source(self, name: str) -> str:
        if self._sources is None:
            self._sources = self._build()
        return self._sources[name]

    @functools.cached_property
    def extract_url(self) -> Any:
        return regex.compile(self._source("extract_url"), regex.IGNORECASE)

    @functools.cached_property
    def extract_url_ascii(self) -> Any:
        """:attr:`extract_url` compiled by Python's own `re`, for ASCII text only (see :func:`_url_matches`)."""
        return re.compile(self._source("extract_url"), re.IGNORECASE)

    @functools.cached_property
    def valid_ascii_domain(self) -> Any:
        return regex.compile(self._source("ascii_domain"), regex.IGNORECASE)

    @functools.cached_property
    def valid_tco_url(self) -> Any:
        return regex.compile(self._source("tco_url"), regex.IGNORECASE)

    @staticmethod
    def _build() -> dict[str, str]:
        # validGTLD.js, validCCTLD.js, validPunycode.js
        gtld = f"(?:{_alternation_trie(_GTLDS.split('|'))}{_TLD_END})"
        cctld = f"(?:{_alternation_trie(_CCTLDS.split('|'))}{_TLD_END})"
        punycode = r"(?:xn--[\-0-9a-z]+)"
        # validUrlPrecedingChars.js
        preceding = rf"(?:[^A-Za-z0-9@＠$#＃{_INVALID_CHARS}]|[{_DIRECTIONAL_MARKERS}]|^)"
        # validDomainChars.js, invalidDomainChars.js
        char = rf"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}{_DIRECTIONAL_MARKERS}]"
        # validSubdomain.js `(?:(?:C(?:[_-]|C)*)?C\.)` and validDomainName.js
        # `(?:(?:C(?:-|C)*)?C\.)`, written as `C(?:[_-]*C)*+\.`: the same language, but the
        # possessive run cannot backtrack (only a maximal run can be followed by '.', which is
        # not a domain char), so a long run of letters without a dot fails in linear time.
        subdomain = rf"(?:{char}(?:[_-]*{char})*+\.)"
        domain_name = rf"(?:{char}(?:-*{char})*+\.)"
        # validDomain.js
        domain = rf"(?:{subdomain}*{domain_name}(?:{gtld}|{cctld}|{punycode}))"
        # validPortNumber.js
        port = r"[0-9]+"
        # validGeneralUrlPathChars.js
        path_char = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
        # validUrlBalancedParens.js: up to two nested levels of balanced parentheses.
        parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
        # validUrlPathEndingChars.js: so that "/foo." does not gobble the period.
        path_end = rf"[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{parens})"
        # validUrlPath.js: '@' is allowed in a path, but only in the middle. Upstream splices
        # path_end in unparenthesised, so its '|' splits the group: a path segment is
        # `path_char* (parens path_char*)* ending_char`, or balanced parens alone, or
        # `@path_char+/`. Kept so: "example.com/x.(a)" is "example.com/x", as upstream.
        path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:@{path_char}+/))"
        # validUrlQueryChars.js, validUrlQueryEndingChars.js
        query_char = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
        query_end = r"[a-z0-9\-_&=#/]"
        # extractUrl.js. Groups: 1 all, 2 preceding character, 3 URL, 4 protocol, 5 domain,
        # 6 port, 7 path, 8 query string.
        extract_url = (
            rf"(({preceding})((https?://)?({domain})(?::({port}))?(/{path}*)?"
            rf"(\?{query_char}*{query_end})?))"
        )
        # validAsciiDomain.js
        ascii_domain = rf"(?:(?:[\-a-z0-9{_LATIN_ACCENTS}]+)\.)+(?:{gtld}|{cctld}|{punycode})"
        # validTcoUrl.js
        tco_url = rf"^https?://t\.co/([a-z0-9]+)(?:\?{query_char}*{query_end})?"

        return {"extract_url": extract_url, "ascii_domain": ascii_domain, "tco_url": tco_url}


_url_patterns: _UrlPatterns | None = None


def _urls() -> _UrlPatterns:
    global _url_patterns
    if _url_patterns is None:
        _url_patterns = _UrlPatterns()
    return _url_patterns


_DEFAULT_PROTOCOL = "https://"
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_DOMAIN_LABEL_LENGTH = 63
# invalidUrlWithoutProtocolPrecedingChars.js
_INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS = "-_./"
# A whole word (a run of non-spaces) holding a '.' followed by something, where a URL may be (see
# _url_matches); and such a '.' anywhere. Plain character classes, so Python's re (several times faster
# at these scans than the regex module) reads them alike.
_URL_WORD = re.compile(rf"(?<![^{_SPACES}])(?=[^{_SPACES}]*\.[^{_SPACES}])[^{_SPACES}]+")
_DOT_IN_WORD = re.compile(rf"\.[^{_SPACES}]")
_LOW_SURROGATE = regex.compile(r"[\uDC00-\uDFFF]")
# punycode.js splits domains on these as well as on '.'.
_PUNYCODE_SEPARATORS = regex.compile(r"[\u3002\uFF0E\uFF61]")

# --------------------------------------------------------------------------------------------
# Hashtag regular expression (validHashtag.js, hashtagBoundary.js, endHashtagMatch.js)
# --------------------------------------------------------------------------------------------

# Groups: 1 boundary before, 2 hash sign, 3 the tag. The boundary is a character that is not
# a hashtag character nor '&' (upstream's "code point" excludes a lone surrogate, as here).
_VALID_HASHTAG = regex.compile(
    rf"(^|\uFE0E|\uFE0F|[^&{_HASHTAG_ALNUM_CHARS}\uD800-\uDFFF])([#＃])(?![\uFE0F\u20E3])"
    rf"({_HASHTAG_ALNUM}*{_HASHTAG_ALPHA}{_HASHTAG_ALNUM}*)",
    regex.IGNORECASE,
)
_HASH_SIGNS = ("#", "＃")
_END_HASHTAG_MATCH = ("#", "＃", "://")

# --------------------------------------------------------------------------------------------
# Emoji (twemoji-parser, as used by twitter-text's parseTweet)
# --------------------------------------------------------------------------------------------
# twemoji-parser matches, in order: ZWJ sequences; keycaps ([#*0-9] FE0F? 20E3); the
# text-default symbols © ® ™ ♟ only when followed by FE0F (VS16); other text-default emoji,
# which take an optional VS16; emoji modifier bases with an optional skin tone; flags (regional
# indicator pairs, tag sequences such as England's) and emoji-presentation emoji, which take no
# VS16; and a stray VS16. Its generated lists are tied to one Unicode version (11 in the
# twemoji-parser that twitter-text 3.1.0 ships with), so here the same structure is written
# with the `regex` module's Unicode emoji properties: newer emoji and ZWJ sequences are one unit
# too. Each match weighs `default_weight` (2) whatever its length. Upstream does not match a
# text-default emoji followed by FE0E (VS15); here it does, which changes no weight: a single
# character weighs 2 either way (none of them is in a weight-1 range) and FE0E weighs 2 alone.
_EMOJI_PROPERTY = r"\p{Emoji}"
_EMOJI_PRESENTATION = r"\p{Emoji_Presentation}"
_EMOJI_MODIFIER = r"\p{Emoji_Modifier}"
_EMOJI_MODIFIER_BASE = r"\p{Emoji_Modifier_Base}"
_REGIONAL_INDICATOR = r"\p{Regional_Indicator}"
_TAG_SEQUENCE = r"\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"
_FLAG = _REGIONAL_INDICATOR + _REGIONAL_INDICATOR
_KEYCAP = r"[#*0-9]\uFE0F?\u20E3"
_TEXT_DEFAULT_NEEDING_VS16 = r"\u00A9\u00AE\u2122\u265F"
# One emoji inside a ZWJ sequence: a text-default one may carry VS16 (as in 🏳️‍🌈) or a skin
# tone; an emoji-presentation one only a skin tone.
_ZWJ_ELEMENT = (
    rf"(?:{_TAG_SEQUENCE}|{_FLAG}|{_KEYCAP}"
    rf"|(?={_EMOJI_PRESENTATION}){_EMOJI_PROPERTY}{_EMOJI_MODIFIER}?"
    rf"|(?![#*0-9\u00A9\u00AE]|{_EMOJI_PRESENTATION}){_EMOJI_PROPERTY}(?:\uFE0F|{_EMOJI_MODIFIER})?)"
)
_EMOJI = regex.compile(
    rf"(?:{_ZWJ_ELEMENT}(?:\u200D{_ZWJ_ELEMENT})+)"
    rf"|{_KEYCAP}"
    rf"|[{_TEXT_DEFAULT_NEEDING_VS16}]\uFE0F"
    rf"|{_TAG_SEQUENCE}"
    rf"|{_FLAG}"
    rf"|(?:(?={_EMOJI_PRESENTATION}){_EMOJI_MODIFIER_BASE}|{_EMOJI_MODIFIER_BASE}\uFE0F?){_EMOJI_MODIFIER}?"
    rf"|{_EMOJI_PRESENTATION}"
    rf"|(?![#*0-9{_TEXT_DEFAULT_NEEDING_VS16}]){_EMOJI_PROPERTY}\uFE0F?"
    r"|\uFE0F"
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _utf16_length(text: str) -> int:
    """Length of *text* in UTF-16 code units (what JavaScript's ``String.length`` counts)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_NATIVE_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def _utf16_view(text: str) -> str:
    """*text* with every astral character split into its two surrogates, one ``str`` item each.

    twitter-text's URL regexes run on JavaScript strings, whose items are UTF-16 code units:
    a negated class such as a domain character matches half of a surrogate pair. Running the
    ported regexes on this view reproduces that exactly (say, ``"🫠.co.uk"`` holds the URL
    ``co.uk``: the high surrogate is the "preceding character", the low one starts the domain).
    """
    return "".join(map(chr, array.array("H", text.encode(_NATIVE_UTF16, "surrogatepass"))))


def _from_utf16_view(view: str) -> str:
    """Undo :func:`_utf16_view`: join surrogate pairs back into astral characters."""
    return view.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _punycode_to_ascii(label: str) -> str:
    """punycode.js ``toASCII`` of a label (in the UTF-16 view): each part with a non-ASCII
    code unit becomes ``xn--`` + the Punycode of its code points."""
    mapped = _PUNYCODE_SEPARATORS.sub(".", label)
    encoded = []
    for part in mapped.split("."):
        if any(ord(ch) > 0x7E for ch in part):
            code_points = _from_utf16_view(part)
            encoded.append("xn--" + code_points.encode("punycode").decode("ascii"))
        else:
            encoded.append(part)
    return ".".join(encoded)


def _idna_to_ascii(domain: str) -> str | None:
    """lib/idna.js ``toAscii``: the domain if every label is 1..63 chars once Punycode-encoded.

    Like upstream it returns the domain unchanged (not its Punycode form) when it is valid.
    """
    if domain.startswith("xn--") and _urls().valid_ascii_domain.search(domain) is None:
        # A Punycode-encoded domain cannot contain non-ASCII characters.
        return None
    for label in domain.split("."):
        if label.isascii() and "\x7f" not in label:
            # punycode.js leaves such a label as it is.
            if not 1 <= len(label) <= _MAX_DOMAIN_LABEL_LENGTH:
                return None
            continue
        if len(_from_utf16_view(label)) > _MAX_DOMAIN_LABEL_LENGTH:
            # Encoding never gives fewer characters than the label has code points (Punycode
            # copies ASCII and writes a digit or more per other one): skip the slow encoder.
            return None
        try:
            encoded = _punycode_to_ascii(label)
        except (UnicodeError, ValueError, OverflowError):
            return None
        if not 1 <= len(encoded) <= _MAX_DOMAIN_LABEL_LENGTH:
            return None
    return domain


def _is_valid_url(url: str, protocol: str, domain: str) -> bool:
    """extractUrlsWithIndices.js ``isValidUrl``: valid host labels and at most 4096 long."""
    punycode_encoded_domain = _idna_to_ascii(domain)
    if not punycode_encoded_domain:
        return False
    url_length = _utf16_length(url) + _utf16_length(punycode_encoded_domain) - _utf16_length(domain)
    return len(protocol) + url_length <= _MAX_URL_LENGTH


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def _url_matches(patterns: _UrlPatterns, text: str) -> Iterator[Any]:
    """``patterns.extract_url.finditer(text)``, but only over the words that could hold a URL.

    A URL never contains a space and always contains a '.' followed by something, and a match
    is the URL plus the one character before it. So scanning each such word (from the space
    before it, with the string's end at the space after it, which the TLD lookahead accepts like
    the end) finds exactly the matches a scan of the whole text finds, much faster.

    A word that is all ASCII (as nearly every link is) is scanned with the pattern compiled by `re`,
    which compiles in well under half the time: on ASCII text the two engines match alike (where
    they differ, in which other letters `(?i)` takes for an ASCII one, such as 'ı' for 'i' or 'ſ'
    for 's', the text is not ASCII), and the pattern looks at nothing outside the word.
    """
    ascii_text = text.isascii()
    for word in _URL_WORD.finditer(text):
        start, end = word.span()
        begin = max(start - 1, 0)
        ascii_only = ascii_text or text[begin:end].isascii()
        extract_url = patterns.extract_url_ascii if ascii_only else patterns.extract_url
        yield from extract_url.finditer(text, begin, end)


def extract_urls_with_indices(text: str) -> list[Entity]:
    """URLs in *text* (with or without a protocol), as twitter-text's ``extractUrlsWithIndices``."""
    return list(_urls_with_indices(text))


# A post's text is examined several times (length, links, hashtags, preview), and the same text goes to
# several accounts: remember the answers for recent texts.
@functools.lru_cache(maxsize=4096)
def _urls_with_indices(text: str) -> tuple[Entity, ...]:
    return tuple(_find_urls_with_indices(text))


def _find_urls_with_indices(text: str) -> list[Entity]:
    if not text or _DOT_IN_WORD.search(text) is None:
        return []
    if max(text) <= "\uffff":
        return [Entity(url, start, end) for url, start, end in _extract_urls_utf16(text)]
    # Work on UTF-16 code units, as upstream does, then map back to str indices. A URL never
    # starts or ends inside a surrogate pair (it starts with a protocol or an ASCII domain and
    # ends with an ASCII or BMP character), so the mapping is exact.
    view = _utf16_view(text)
    low_surrogates = [match.start() for match in _LOW_SURROGATE.finditer(view)]
    entities = []
    for url, start, end in _extract_urls_utf16(view):
        entities.append(
            Entity(
                text=_from_utf16_view(url),
                start=start - bisect.bisect_left(low_surrogates, start),
                end=end - bisect.bisect_left(low_surrogates, end),
            )
        )
    return entities


def _extract_urls_utf16(text: str) -> list[tuple[str, int, int]]:
    """extractUrlsWithIndices.js on *text* as UTF-16 code units: (url, start, end) triples."""
    patterns = _urls()
    # [url, start, end]; the last URL found in a protocol-less domain may still grow a path.
    found: list[list[Any]] = []
    for match in _url_matches(patterns, text):
        before: str = match.group(2)
        url: str = match.group(3)
        protocol: str | None = match.group(4)
        domain: str = match.group(5)
        path: str | None = match.group(7)
        start: int = match.start(3)
        end: int = match.end(3)

        if not _is_valid_url(url, protocol or _DEFAULT_PROTOCOL, domain):
            continue

        if not protocol:
            # Extract ASCII-only domains.
            if before and before[-1] in _INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS:
                continue
            last_url: list[Any] | None = None
            ascii_end = 0
            for ascii_match in patterns.valid_ascii_domain.finditer(domain):
                ascii_domain = ascii_match.group(0)
                # Upstream locates each match with indexOf from the end of the previous one,
                # which finds an earlier copy of the same text if there is one; kept so.
                ascii_start = domain.find(ascii_domain, ascii_end)
                ascii_end = ascii_start + len(ascii_domain)
                last_url = [ascii_domain, start + ascii_start, start + ascii_end]
                found.append(last_url)
            if last_url is None:
                # No ASCII-only domain found: skip the entire URL.
                continue
            if path:
                # last_url only holds the domain: add the path and query.
                last_url[0] = url.replace(domain, last_url[0], 1)
                last_url[2] = end
        else:
            # t.co URLs: no extra path characters, and the slug is at most 40 long.
            tco = patterns.valid_tco_url.match(url)
            if tco is not None:
                slug: str | None = tco.group(1)
                if slug and len(slug) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group(0)
                end = start + len(url)
            found.append([url, start, end])
    return [(url_text, url_start, url_end) for url_text, url_start, url_end in found]


def extract_urls(text: str) -> list[str]:
    """The URLs in *text*, as written."""
    return [entity.text for entity in extract_urls_with_indices(text)]


# --------------------------------------------------------------------------------------------
# Hashtags
# --------------------------------------------------------------------------------------------


def _remove_overlapping_entities(entities: list[tuple[Entity, bool]]) -> list[tuple[Entity, bool]]:
    """removeOverlappingEntities.js: sort by start and drop any entity overlapping the previous kept one."""
    ordered = sorted(entities, key=lambda item: item[0].start)
    kept: list[tuple[Entity, bool]] = []
    for item in ordered:
        if kept and kept[-1][0].end > item[0].start:
            continue
        kept.append(item)
    return kept


def extract_hashtags_with_indices(text: str) -> list[Entity]:
    """Hashtags in *text* (not those inside URLs), as twitter-text's ``extractHashtagsWithIndices``."""
    return list(_hashtags_with_indices(text))


@functools.lru_cache(maxsize=4096)
def _hashtags_with_indices(text: str) -> tuple[Entity, ...]:
    return tuple(_find_hashtags_with_indices(text))


def _find_hashtags_with_indices(text: str) -> list[Entity]:
    signs = [at for at in (text.find(sign) for sign in _HASH_SIGNS) if at != -1]
    if not signs:
        return []
    tags: list[Entity] = []
    # A hashtag is the character before its sign (or the start), its sign and its tag: nothing before the
    # first sign's neighbour can begin one, and the pattern looks at nothing before where it begins.
    for match in _VALID_HASHTAG.finditer(text, max(min(signs) - 1, 0)):
        if text.startswith(_END_HASHTAG_MATCH, match.end()):
            continue
        tags.append(Entity(text=match.group(3), start=match.start(2), end=match.end(3)))
    if not tags:
        return tags
    urls = extract_urls_with_indices(text)
    if urls:
        entities = [(tag, True) for tag in tags] + [(url, False) for url in urls]
        tags = [entity for entity, is_tag in _remove_overlapping_entities(entities) if is_tag]
    return tags


def extract_hashtags(text: str) -> list[str]:
    """The hashtags in *text*, without their ``#``."""
    return [entity.text for entity in extract_hashtags_with_indices(text)]


# --------------------------------------------------------------------------------------------
# Weighted length
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """A URL or an emoji sequence, in UTF-16 code units: it weighs ``weight`` whatever its length."""

    start: int
    end: int
    weight: int


def _weight_classes(config: TwitterTextConfig) -> tuple[tuple[Any, int], ...]:
    """A compiled character class for each weight the config's ranges give (first range wins)."""
    cached = _WEIGHT_CLASSES.get(config)
    if cached is not None:
        return cached
    taken: list[tuple[int, int]] = []
    members: dict[int, list[str]] = {}
    for weighted_range in config.ranges:
        pieces = [(weighted_range.start, weighted_range.end)]
        for taken_start, taken_end in taken:
            pieces = [
                piece
                for start, end in pieces
                for piece in ((start, min(end, taken_start - 1)), (max(start, taken_end + 1), end))
                if piece[0] <= piece[1]
            ]
        taken.append((weighted_range.start, weighted_range.end))
        members.setdefault(weighted_range.weight, []).extend(
            f"\\U{start:08X}-\\U{end:08X}" for start, end in pieces
        )
    result = tuple(
        (regex.compile("[" + "".join(ranges) + "]"), weight)
        for weight, ranges in members.items()
        if ranges and weight != config.default_weight
    )
    _WEIGHT_CLASSES[config] = result
    return result


_WEIGHT_CLASSES: dict[TwitterTextConfig, tuple[tuple[Any, int], ...]] = {}
# The high half of a surrogate pair: upstream weighs a pair by its low half only.
_PAIRED_HIGH_SURROGATE = regex.compile(r"[\uD800-\uDBFF](?=[\uDC00-\uDFFF])")
_ASTRAL = regex.compile(r"[\U00010000-\U0010FFFF]")


def _plain_weight(view: str, config: TwitterTextConfig) -> int:
    """The summed weight of the characters of *view* (UTF-16 code units), each on its own.

    Like upstream, a surrogate pair weighs what its low half does (the default weight).
    """
    if view.isascii():  # the usual post: every character weighs what ASCII weighs, if the ranges agree on it
        ascii_weight = _ascii_weight(config)
        if ascii_weight is not None:
            return ascii_weight * len(view)
    units = _PAIRED_HIGH_SURROGATE.sub("", view)
    weight = config.default_weight * len(units)
    for character_class, class_weight in _weight_classes(config):
        weight += (class_weight - config.default_weight) * len(character_class.findall(units))
    return weight


@functools.cache
def _ascii_weight(config: TwitterTextConfig) -> int | None:
    """The weight of every ASCII character under *config*, if they all weigh the same (v3: 100)."""
    weights = {_code_unit_weight(chr(code), config) for code in range(128)}
    return weights.pop() if len(weights) == 1 else None


def _code_unit_weight(code_unit: str, config: TwitterTextConfig) -> int:
    """lib/getCharacterWeight.js: the weight of the first range holding the code unit."""
    code_point = ord(code_unit)
    for weighted_range in config.ranges:
        if weighted_range.start <= code_point <= weighted_range.end:
            return weighted_range.weight
    return config.default_weight


def _special_units(text: str, view: str, config: TwitterTextConfig) -> list[_Unit]:
    """The URLs and emoji sequences that parseTweet's walk over *view* meets, in order.

    *view* is *text* as UTF-16 code units (see :func:`_utf16_view`). Upstream walks the code
    units and, at each index it reaches, takes a URL starting there (and moves on by the length
    of the URL's text), else an emoji starting there, else one character (a surrogate pair is
    one); so a URL wins over an emoji at the same index and anything starting inside an earlier
    unit is never reached.
    """
    starts: dict[int, _Unit] = {}
    if config.emoji_parsing_enabled and not text.isascii():
        astral = [match.start() for match in _ASTRAL.finditer(text)] if view is not text else []
        for match in _EMOJI.finditer(text):
            start = match.start() + bisect.bisect_left(astral, match.start())
            end = match.end() + bisect.bisect_left(astral, match.end())
            starts[start] = _Unit(start, end, config.default_weight)
    url_weight = config.transformed_url_length * config.scale
    for url, start, _end in _extract_urls_utf16(view):
        # Upstream moves on by the length of the URL's text, which for a URL without protocol
        # can be shorter than its indices' span; the walk follows the text length, as here.
        starts[start] = _Unit(start, start + len(url), url_weight)
    units: list[_Unit] = []
    position = 0
    for start in sorted(starts):
        if start >= position:
            unit = starts[start]
            units.append(unit)
            position = unit.end
    return units


def _valid_display_index(view: str, units: list[_Unit], config: TwitterTextConfig) -> int:
    """parseTweet's ``validDisplayIndex``: the UTF-16 index of the last code unit of the last
    unit (URL, emoji or character) reached while the text is valid and within the limit."""
    scaled_max = config.max_weighted_tweet_length * config.scale
    unit_at = {unit.start: unit for unit in units}
    weighted = 0
    valid_display_index = 0
    index = 0
    while index < len(view):
        unit = unit_at.get(index)
        if unit is not None:
            weighted += unit.weight
            end = unit.end
        else:
            paired = (
                "\ud800" <= view[index] <= "\udbff"
                and index + 1 < len(view)
                and "\udc00" <= view[index + 1] <= "\udfff"
            )
            end = index + 2 if paired else index + 1
            weighted += _code_unit_weight(view[end - 1], config)
        # Like upstream, validity is judged on the unit's last code unit.
        if view[end - 1] in _INVALID_CHAR_SET:
            break
        if weighted <= scaled_max:
            valid_display_index = end - 1
        index = end
    return valid_display_index


def parse_tweet(text: str, *, config: TwitterTextConfig = CONFIG_V3) -> ParsedTweet:
    """Weighted length and validity of a post, as twitter-text's ``parseTweet`` (v3 by default).

    The text is NFC-normalised first. Every URL counts ``transformed_url_length``; every emoji
    sequence counts ``default_weight`` (when emoji parsing is enabled); every other character
    counts the weight of the first range holding it, else ``default_weight``; the sum is divided
    by ``scale``. It is valid when it is not empty, not over ``max_weighted_tweet_length`` and
    holds no invalid character (U+FFFE, U+FEFF, U+FFFF).
    """
    normalized = unicodedata.normalize("NFC", text)
    view = normalized if not normalized or max(normalized) <= "\uffff" else _utf16_view(normalized)
    scaled_max = config.max_weighted_tweet_length * config.scale

    units = _special_units(normalized, view, config)
    plain: list[str] = []
    position = 0
    for unit in units:
        plain.append(view[position : unit.start])
        position = unit.end
    plain.append(view[position:])
    weighted = sum(unit.weight for unit in units) + _plain_weight("".join(plain), config)
    # URLs and emoji never hold an invalid character, so this is upstream's per-unit check.
    has_invalid = not _INVALID_CHAR_SET.isdisjoint(normalized)

    if not has_invalid and weighted <= scaled_max:
        # Every unit is reached while valid and within the limit: the last one is the last.
        valid_display_index = max(len(view) - 1, 0)
    else:
        valid_display_index = _valid_display_index(view, units, config)

    text_length = _utf16_length(text)
    return ParsedTweet(
        weighted_length=weighted // config.scale,
        valid=not has_invalid and 0 < weighted <= scaled_max,
        permillage=math.floor(weighted / config.scale / config.max_weighted_tweet_length * 1000),
        display_range_start=0,
        display_range_end=text_length - 1 if text_length > 0 else 0,
        valid_range_start=0,
        valid_range_end=valid_display_index + text_length - len(view),
    )
