"""Street addresses: English formats of several countries, and Chinese addresses down to the room.

English: a street line (house number, name, a street type from USPS Publication 28 and the
Commonwealth ones: Close, Crescent, Mews, ...) or a PO box, with the flat or unit before or
after it, then the rest of the address as far as it goes: city, state or province, postcode
(US ZIP, UK, Canadian, Australian and New Zealand, Irish Eircode), US military addresses.
``usaddress`` (a CRF for US addresses) was measured as the tail reader and not kept: on the
tuning suite's English addresses it ended 42 of 80 right (it labels the words after an address,
and parses UK and Australian lines as US ones) against 80 of 80 for the rules here, at 40x the time.

Chinese: administrative units (a province from the fixed list, then 市/州, 区/县, 镇/乡/街道,
村), then a road or lane with its number (路/街/大道/巷/弄 + 号), an estate and a building
(栋/幢/号楼/座), unit (单元), floor (层) and room (室) — or a village's group (组).
"""

from __future__ import annotations

import re

# -- English -----------------------------------------------------------------------------------------
# street types: USPS Publication 28, appendix C1 (names and standard abbreviations), Commonwealth ones,
# and Australia Post's (AS 4590)
_SUFFIXES = (
    "Crossroads|Embankment|Expressway|Extensions|Throughway|Trafficway|Boulevard|Centreway|Concourse|"
    "Crossroad|Esplanade|Extension|Junctions|Mountains|Promenade|Stravenue|Underpass|Broadway|Causeway|"
    "Crescent|Crossing|Junction|Motorway|Mountain|Overpass|Parkways|Turnpike|Villages|Centers|Circles|"
    "Commons|Corners|Estates|Freeway|Gardens|Gateway|Harbors|Harbour|Heights|Highway|Islands|Landing|"
    "Meadows|Mission|Orchard|Parkway|Passage|Prairie|Springs|Squares|Station|Streets|Terrace|Trailer|"
    "Valleys|Viaduct|Village|Arcade|Avenue|Bluffs|Bottom|Branch|Bridge|Brooks|Bypass|Canyon|Center|Centre|"
    "Circle|Circus|Cliffs|Common|Corner|Course|Courts|Divide|Drives|Estate|Fields|Forest|Forges|Garden|"
    "Greens|Groves|Harbor|Hollow|Island|Knolls|Lights|Manors|Meadow|Parade|Plains|Points|Radial|Rapids|"
    "Ridges|Shoals|Shores|Skyway|Spring|Square|Strand|Stream|Street|Summit|Tunnel|Unions|Valley|Alley|Bayou|"
    "Beach|Bluff|Brook|Burgs|Chase|Cliff|Close|Copse|Court|Coves|Creek|Crest|Croft|Cross|Curve|Drive|Falls|"
    "Ferry|Field|Flats|Fords|Forge|Forks|Glens|Green|Grove|Haven|Hills|Inlet|Knoll|Lakes|Light|Locks|Lodge|"
    "Manor|Mills|Mount|Parks|Pines|Place|Plain|Plaza|Point|Ports|Ranch|Rapid|Reach|Ridge|River|Roads|Route|"
    "Shoal|Shore|Spurs|Trace|Track|Trail|Union|Views|Ville|Vista|Walks|Wells|Anex|Bend|Blvd|Burg|Camp|Cape|"
    "Club|Cove|Cres|Cswy|Dale|Expy|Fall|Flat|Fold|Ford|Fork|Fort|Gate|Gdns|Glen|Hill|Isle|Keys|Lake|Land|"
    "Lane|Loaf|Lock|Loop|Mall|Mead|Mews|Mill|Neck|Nook|Oval|Park|Pass|Path|Pike|Pine|Pkwy|Port|Quay|Ramp|"
    "Rest|Ride|Rise|Road|Spur|Tpke|Vale|View|Walk|Wall|Ways|Well|Wynd|Xing|Yard|Aly|Ave|Brg|Byp|Cir|Crk|Ctr|"
    "Dam|End|Est|Ext|Fwy|Grn|Hey|Hts|Hwy|Jct|Key|Lea|Mtn|Plz|Rdg|Row|Rte|Rue|Run|Tce|Ter|Trl|Vlg|Vly|Way|Av|"
    "Cl|Ct|Cv|Dr|Gr|Ln|Mt|Pk|Pl|Pt|Rd|Sq|St|Wy"
    "|Intersection|Thoroughfare|Distributor|Interchange|Cul-de-sac|Quadrangle|Anchorage|Colonnade|Courtyard"
    "|Cruiseway|Deviation|Firetrail|Foreshore|Formation|Parklands|Alleyway|Approach|Crossway|Driveway"
    "|Entrance|Frontage|Highroad|Quadrant|Ridgeway|Riverway|Roadside|Rosebowl|Triangle|Trunkway|Circlet"
    "|Circuit|Cutting|Fairway|Footway|Laneway|Lookout|Meander|Outlook|Plateau|Reserve|Retreat|Riviera"
    "|Roadway|Tollway|Walkway|Access|Artery|Follow|Grange|Ground|Little|Piazza|Pocket|Ramble|Rotary|Siding"
    "|Stairs|Subway|Towers|Villas|Amble|Basin|Brace|Break|Byway|Corso|Elbow|Front|Gates|Glade|Gully|Lower"
    "|Quays|Range|Ronde|Round|Slope|Sound|Steps|Strip|Upper|Brae|Brow|Dell|Edge|Lees|Link|Part|Quad|Ring"
    "|Tarn|Turn|Wade|Dip|Gap|Mew|Top|Tor|Via"
    # India: a road (Marg), a locality that stands where a street would (Nagar, Ganj, Vihar, Colony, ...)
    "|Enclave|Layout|Colony|Vihar|Nagar|Chowk|Marg|Ganj|Bagh|Zila"
    # a residential building standing where a street would (Flat 325, Sai Residency, 8th Cross)
    "|Residency|Residences|Apartments|Homes"
)
_DIR = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_WORD = r"(?:[A-Z][^\W\d_]*(?:['’.-][^\W\d_]*)*|\d{1,3}(?:st|nd|rd|th))"  # Parañaque, O'Brien
_HOUSE = (
    # 58/563, Sha Nagar; H.No. 38, ...; Blk 998 Tampines Avenue 5
    r"(?:(?:Unit|Flat|Apt\.?|Shop|Blk|Block|H\.\s?No\.)\s*)?\d{1,6}[A-Za-z]?(?:[-/]\d{1,6}[A-Za-z]?)?,?"
    r"(?:\s+(?:Unit|Lot)\s+[A-Z\d]{1,4})?"  # 8969 Unit B Barrera Road, Block 13 Lot 94 3rd Street
)
_UNIT = (
    r"(?:Flat|Apt\.?|Apartment|Unit|Suite|Ste\.?|Studio|Level|Floor|Room|Rm\.?|Lot|Block|Shop)"
    r"\s*#?\s*[A-Za-z0-9-]{1,5}"
)
_STREET = (
    rf"{_HOUSE}\s+(?:{_DIR}\s+)?(?:{_WORD}\s+){{0,3}}{_WORD}\s+(?:{_SUFFIXES})\b\.?"
    # Samat Road Extension; Tampines Avenue 5 (a number where the line goes on or ends: not "Street 4 ways")
    r"(?:\s+(?:Extension|Ext\.?)(?![\w-])|\s+\d{1,3}(?=\s*[,;\n]|\s*$))?"
    rf"(?:\s+{_DIR}(?![A-Za-z]))?"
    rf"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|#)\s*[A-Za-z0-9-]{{1,6}}(?![A-Za-z0-9-]))?"
)
# a house's or a building's name before its street line: Rose Cottage, 56 Maple Lane; 2F Jupiter Place
# Tower 3, 6597 Uranus Street; Room 4838 Piña Suites Tower 9, ...
_NAMED = (
    r"(?:(?:[A-Z][a-z]+ ){0,2}(?:Cottage|House|Farm|Lodge|Rectory|Barn|Villa|Hall|Mill|Grange),\s+"
    r"|(?:(?:\d{1,2}F|(?:Room|Unit) \d{1,5}|Floor \d{1,3}|\d{1,2}(?:st|nd|rd|th) Floor) )?"
    r"(?:[A-Z][\w'’-]+ ){1,3}(?:Towers?|Building|Bldg\.?|Plaza)"
    r"(?: \d{1,3})?,\s+)"
)
_CORE = re.compile(
    rf"(?<![\w/-])(?:{_NAMED}?(?:{_UNIT},?\s+)?{_STREET}"
    # Flat 7, Jones Light, ...; B12 L15 Aries Street (block and lot, the Philippines)
    rf"|{_NAMED}?(?:{_UNIT},|B\d{{1,3}} L\d{{1,3}})\s+(?:{_WORD}\s+){{0,3}}{_WORD}\s+(?:{_SUFFIXES})\b\.?"
    r"|P\.?\s?O\.?\s+Box\s+\d{1,6}"
    r"|RR \d{1,2},? (?:Site \d{1,3},? )?(?:Box|Comp) \d{1,4}"  # Canadian rural routes
    r"|(?:PSC|CMR|Unit) \d{1,5},? Box \d{1,5}|(?:USS|USNS|USCGC) [A-Z][A-Za-z]+(?= *,? *[FAD]PO\b))"
)
_US_STATES = (
    "FM|MH|PW|AA|AE|AP|AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY"
    "|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP"
)
_REGIONS = "(?:[FAD]PO )?(?:" + _US_STATES + ")|NSW|VIC|QLD|SA|TAS|ACT|NT|ON|QC|BC|AB|MB|SK|NS|NB|NL|PE|YT|NU"
_POSTCODE = (
    r"\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{6}|\d{4}"
    r"|[A-Z]\d{2}\s?[A-Z\d]{4}"  # Eircode (routing key, unique identifier); India, Singapore: six digits
)
# one more part of the address after a street line: "strong" parts (a region, a postcode) end it safely
_STRONG = re.compile(
    rf"(?:,\s*|\s+|-(?=\d{{6}}))("
    # the Philippines: a postcode before the province (1215 Metro Manila, 9646 Surigao del Norte)
    r"(?<=, )\d{4} [A-Z][^\W\d_]+(?: (?:del |de )?[A-Z][^\W\d_]+){0,2}"
    r"(?=\s*[,.;!?\n)。，；！？]|\s*$| until| before| by)"
    rf"|(?:{_REGIONS})\.?(?:,?\s+(?:{_POSTCODE}))?|(?:{_POSTCODE})"
    r"|RD \d{1,2}|Dublin \d{1,2}|#\d{1,3}-\d{1,5}"  # Singapore's #floor-unit
    r"|Singapore \d{6})"
    r"(?![\w-])"
)
_PLACE = re.compile(
    rf"(,\s*|\s+)((?:{_WORD})(?:\s+{_WORD}){{0,2}}(?: \d{{1,2}})?)"  # Hudson Cove 5
    rf"(?=(?:,\s*|\s+|-(?=\d{{6}}))(?:{_REGIONS}|{_POSTCODE}|RD \d)"
    r"(?![\w-])|\s*[,.;!?\n)。，；！？]|\s*$)"
)


_NOT_PLACE = ("and", "or", "but", "please", "by", "before", "instead", "until")


def _place(text: str, end: int) -> re.Match[str] | None:
    m = _PLACE.match(text, end)
    return m if m and m.group(2).split()[0].lower() not in _NOT_PLACE else None


def _tail(text: str, end: int) -> int:
    """Extend an address past its street line over city, region and postcode parts: a strong part (a
    region, a postcode) is taken at once; places (Salthill, Galway) as far as a strong part after up to
    three of them, or the one place a comma sets off where none follows."""
    for _ in range(6):
        m = _STRONG.match(text, end)
        if m:
            end = m.end()
            continue
        first = m = _place(text, end)
        for _ in range(3):
            if m is None:
                break
            nxt = _STRONG.match(text, m.end())
            if nxt:
                end = nxt.end()
                break
            m = _place(text, m.end()) if text.startswith(",", m.end()) else None
        else:
            m = None
        if m is not None:
            continue
        if first is not None and first.group(1).startswith(","):  # ", Springfield." ends the address
            end = first.end()
        break
    return end


# street types that products and prose use after a number too ("20 Luxury Apartments", "CSS 3 Grid Layout")
_WEAK_SUFFIX = re.compile(r"(?:Homes|Apartments|Residency|Residences|Layout|Colony|Enclave)\b\.?$")


def _needs_more(line: str) -> bool:
    """A street line that reads as prose unless an address follows it: a plain number and a comma before the
    street ("In 2019, Central Park ..." but "214, Rama Street, Hajipur-703294"), or a weak street type."""
    return bool(re.match(r"\d{1,6}[A-Za-z]?,", line) or _WEAK_SUFFIX.search(line)) and not re.match(
        r"(?:Flat|Apt|Apartment|Unit|Suite|Blk|Block|H\.\s?No\.)", line)


def find_english_addresses(text: str) -> list[tuple[int, int]]:
    if not re.search(r"\d", text):
        return []
    out = []
    for m in _CORE.finditer(text):
        end = _tail(text, m.end())
        if end == m.end() and _needs_more(m.group(0)):
            continue
        out.append((m.start(), end))
    return out


# -- Chinese -------------------------------------------------------------------------------------------
_PROVINCES = (
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|云南"
    "|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
# characters a place name does not contain: function words and verbs around an address in a sentence
_NOT_NAME = "的了在是跟把被让给说到寄送往住址为我你他她们这那个请搬收发快递司从向于吧吗呢：:，。、；！？ \t\n"
_N = rf"[^{_NOT_NAME}\dA-Za-z]"
_PROVINCE_SUFFIXES = "省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区"
# the levels below a province, each optional: a name of one to five characters, then its unit
_LEVELS = ("市|自治州|州|地区|盟", "新区|区|區|县|縣|旗|市", "镇|乡|街道", "村")
_ADMIN = rf"(?:(?:{_PROVINCES})(?:{_PROVINCE_SUFFIXES})?)?" + "".join(
    rf"(?:{_N}{{1,5}}?(?:{units}))?" for units in _LEVELS)
_BUILDING = r"[A-Za-z\d]{1,4}(?:栋|棟|幢|号楼|號樓|座|号|號)"
_DETAIL = (
    rf"(?:{_N}{{0,8}}?{_BUILDING})?(?:{_BUILDING})?(?:\d{{1,2}}(?:单元|單元))?"
    rf"(?:{_N}{{0,8}}?\d{{1,2}}(?:层|層|楼|樓|F))?"  # 华润中心29楼: a building by its name, then the floor
    r"(?:[A-Za-z]?\d{1,5}(?:室|房|号)?)?"
)
# a road, its section (忠孝東路四段) and the lanes off it (220巷, 36巷1弄) before the house number
_ROAD = (
    rf"{_N}{{1,8}}?(?:路|街|大道|大街|巷|弄|胡同|道|里)(?:[一二三四五六七八九十]{{1,2}}段)?"
    r"(?:\d{1,4}(?:巷|弄))*"
)
# what follows the administrative part: a road and its number, a building, a village's group; each then
# its details, all optional
_REST_PARTS = (
    (rf"{_ROAD}\d{{1,5}}(?:-\d{{1,5}})?(?:号|號|弄)", _DETAIL),
    (rf"{_ROAD}[A-Za-z\d]{{1,3}}座", _DETAIL),
    (r"(?<=[市区區县縣镇乡村道])\d{1,3}组", r"(?:\d{1,4}号)?"),
    (rf"(?<=[市区區县縣镇乡道])(?:{_N}{{0,8}}?{_BUILDING})", _DETAIL),
)
_REST = "|".join(part + details for part, details in _REST_PARTS)
# what find_chinese_addresses finds, with what it is read with
ZH_ADDRESS = re.compile(rf"{_ADMIN}(?:{_REST})")
_REST_FROM = re.compile(_REST)
# where _REST matches: where a part does (the details always can). Each part has a digit or a Latin
# letter after at most 13 name characters (road, unit, section): most text fails that test at once.
_REST_AT = re.compile(rf"(?={_N}{{0,13}}+[\dA-Za-z])(?=(?:{'|'.join(part for part, _ in _REST_PARTS)}))")
_PROVINCE_AT = re.compile(rf"(?=(?:{_PROVINCES}))")
_UNIT_AT = [re.compile(rf"(?=(?:{units}))") for units in _LEVELS]
_UNITS = [units.split("|") for units in _LEVELS]
_PROVINCE_NAMES = {p[0]: [q for q in _PROVINCES.split("|") if q[0] == p[0]] for p in _PROVINCES.split("|")}
_NOT_N = re.compile(rf"[{_NOT_NAME}\dA-Za-z]")
_NAME = re.compile(rf"{_N}{{0,5}}")
# the longest administrative part: a province and its suffix, then at each level a name and a unit
_ADMIN_LONGEST = (max(map(len, _PROVINCES.split("|"))) + max(map(len, _PROVINCE_SUFFIXES.split("|")))
                  + sum(5 + max(map(len, units)) for units in _UNITS))


def find_chinese_addresses(text: str) -> list[tuple[int, int]]:
    """ZH_ADDRESS.finditer's spans, read in linear time.

    Every level's unit is a name character too (_N), so text dense with units (市市镇市…) can be split
    into levels many ways, and the regex tried every split from every character again, each failing
    on the same rest: up to 100 µs a character. Here the rest is tried once per position (_REST_AT), which
    positions reach it through the levels is worked out backwards, level by level, in the few characters
    before each (_reachable), and a match is read from a start that reaches one by taking, at each level,
    the regex's first choice that still does: the match the regex's backtracking finds first."""
    if not re.search(r"[路街道巷弄栋棟幢座组号號]", text):
        return []
    rests = [m.start() for m in _REST_AT.finditer(text)]
    if not rests:
        return []
    reach = _reachable(text, rests)
    out, pos = [], 0
    while (a := reach[0].find(1, pos)) >= 0:
        m = _REST_FROM.match(text, _admin_end(text, a, reach))
        assert m is not None  # reach says so
        pos = b = m.end()
        while b > a and text[b - 1] in " \t":
            b -= 1
        if b - a >= 5:
            out.append((a, b))
    return out


def _reachable(text: str, rests: list[int]) -> list[bytearray]:
    """For each level (the province first, the tail last), the positions from which the levels from there
    on, each taken or skipped, can end where _REST matches: the _ADMIN_LONGEST characters before one."""
    windows: list[list[int]] = []
    for e in rests:
        if windows and windows[-1][1] >= e - _ADMIN_LONGEST:
            windows[-1][1] = e
        else:
            windows.append([max(e - _ADMIN_LONGEST, 0), e])
    names = _NOT_N.sub("0", text)  # "0" where a name character (_N) cannot be
    after = bytearray(len(text) + 1)
    for e in rests:
        after[e] = 1
    reach = [after]
    for units, unit_at in zip(_UNITS[::-1], _UNIT_AT[::-1]):
        here = after  # the level skipped; copied before a position is added
        for lo, hi in windows:
            for m in unit_at.finditer(text, lo, hi):
                u = m.start()
                if any(text.startswith(unit, u) and after[u + len(unit)] for unit in units):
                    start = names.rfind("0", max(u - 5, 0), u) + 1 or max(u - 5, 0)
                    here = bytearray(after) if here is after else here
                    here[start:u] = b"\x01" * (u - start)  # a name of one to five characters before the unit
        reach.insert(0, after := here)
    here = bytearray(after)
    for lo, hi in windows:
        for m in _PROVINCE_AT.finditer(text, lo, hi):
            here[m.start()] |= any(after[end] for end in _province_ends(text, m.start()))
    return [here, *reach]


def _province_ends(text: str, pos: int) -> list[int]:
    """Where the province group can end, in the regex's order: each province (of those with its first
    character), with each suffix, then bare."""
    ends: list[int] = []
    for name in _PROVINCE_NAMES.get(text[pos:pos + 1], ()):
        if text.startswith(name, pos):
            end = pos + len(name)
            ends += [end + len(s) for s in _PROVINCE_SUFFIXES.split("|") if text.startswith(s, end)] + [end]
    return ends


def _admin_end(text: str, pos: int, reach: list[bytearray]) -> int:
    """Where the administrative part of a match from ``pos`` ends: at each level the regex's first choice
    (the province or unit nearest, then none) from which the rest can still be reached."""
    pos = next((end for end in _province_ends(text, pos) if reach[1][end]), pos)
    for level, (unit_at, units) in enumerate(zip(_UNIT_AT, _UNITS), 2):
        pos = next((end for end in _level_ends(text, pos, unit_at, units) if reach[level][end]), pos)
    return pos


def _level_ends(text: str, pos: int, unit_at: re.Pattern[str], units: list[str]) -> list[int]:
    """Where a level from ``pos`` can end, in the regex's order: the shortest name first, then each unit."""
    m = _NAME.match(text, pos)
    longest = m.end() - pos if m else 0
    return [pos + k + len(unit) for k in range(1, longest + 1) if unit_at.match(text, pos + k)
            for unit in units if text.startswith(unit, pos + k)]
