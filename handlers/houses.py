"""Guests: home page, search, listing page with its booking form, availability calendar and reviews.

Dates are the server's local calendar days (``datetime.date.today()``); stays are
half-open ``[check_in, check_out)``.
"""

from __future__ import annotations

import datetime
import logging
import urllib.parse

from handlers.base import BaseHandler, PageError, page_number, small_int
from handlers.display import CALENDAR_MONTHS, add_months, calendar_months, public_name
from models import areas as areas_model
from models import favourites, houses, lifecycle, orders, reviews, search
from services import cache as cache_keys
from services.house_form import fen_to_yuan, parse_yuan
from services.pricing import breakdown

HOME_TOP = 5
HOME_LATEST = 12
MAX_PAGE = 500
MAX_STAY_NIGHTS = 365
MAX_GUESTS = 50  # the search's guests filter and the listing form's capacity limit

log = logging.getLogger("ihome.houses")


class ListingBase(BaseHandler):
    """Shared helpers of the listing pages: cached reference data, ownership checks."""

    async def area_choices(self) -> list[dict]:
        """Areas for select boxes, cached: [{id, name, city, province}]."""
        return await self.cache.get_or_load(cache_keys.AREAS_KEY, lambda: areas_model.featured_areas(self.db))

    async def facility_choices(self) -> list[dict]:
        """The facility catalogue, cached (and memoised in the process): [{id, name, icon}]."""
        return await self.cache.get_reference(cache_keys.FACILITIES_KEY,
                                              lambda: areas_model.all_facilities(self.db))

    async def house_page_data(self, house_id: int) -> dict | None:
        """Everything the listing page shows that is the same for every visitor, cached.

        {house: row, facilities: [...], images: [...]}; None for an unknown or deleted listing.
        """
        async def load():
            house = await houses.get(self.db, house_id)
            if house is None:
                return None
            return {"house": house, "facilities": await houses.facilities(self.db, house_id),
                    "images": await houses.images(self.db, house_id)}
        return await self.cache.get_or_load(cache_keys.house_key(house_id), load)

    async def cached_search(self, filters: search.SearchFilters) -> tuple[list[dict], int]:
        """(cards of the requested page, total) for validated *filters*, cached under
        the current search generation (any listing write makes every result fresh; a
        booking only those with dates). total is capped: above search.COUNT_CAP it is
        COUNT_CAP + 1, meaning "more"."""
        key = await self.cache.search_key(filters.normalised(), dated=filters.check_in is not None)

        async def load():
            found, count = await search.search(self.db, filters)
            return {"rows": found, "total": count}
        result = await self.cache.get_or_load(key, load)
        return result["rows"], result["total"]

    def can_see(self, house: dict) -> bool:
        """Public listings are seen by all; others only by their owner and admins."""
        if house["status"] == "online" and house.get("owner_active", 1):
            return True
        user = self.current_user
        return bool(user and (user.id == house["owner_id"] or user.is_admin))

    async def owned_house(self, house_id: int) -> dict:
        """The current user's listing *house_id*; 404 when unknown, 403 when someone else's."""
        house = await houses.get(self.db, house_id)
        if house is None:
            raise PageError(404, "房源不存在")
        if house["owner_id"] != self.current_user.id:
            raise PageError(403, "这不是你的房源")
        return house


class HomeHandler(ListingBase):
    """GET /: search box, carousel of the top listings, latest listings.

    The page differs between visitors only by their city (the label and the
    preselected district), so it is cached per city (see BaseHandler.cached_page).
    """

    user_snapshot_ok = True

    async def get(self) -> None:
        city = await self.visitor_city()
        # A provider's city name is short; anything odd is rendered, not cached under its name.
        if (city is None or len(city) <= 20) and await self.cached_page(f"/?city={city or ''}"):
            return

        async def load():
            return {"top": await search.public_cards(self.db, "booking", HOME_TOP),
                    "latest": await search.public_cards(self.db, "new", HOME_LATEST)}
        data = await self.cache.get_or_load(cache_keys.HOME_KEY, load)
        await self.render_page("index.html", top=data["top"], latest=data["latest"],
                               areas=await self.area_choices(), visitor_city=city)

    async def visitor_city(self, areas: list[dict] | None = None) -> str | None:
        """The visitor's city from the client address, or None when not known.

        Named as the site's areas name it ("深圳市") when the site has areas there
        (the template then preselects that city's first area), else as the
        locator says it. Local addresses and country-level answers give None
        (without reading the areas).
        """
        locator = self.application.locator
        if locator is None:
            return None
        location = await locator.locate(self.client_ip)
        if not (location.city or "").strip() and not (location.province or "").strip():
            return None
        if areas is None:
            areas = await self.area_choices()
        return match_site_city(location, areas) or location.city or None


MUNICIPALITIES = ("北京", "上海", "天津", "重庆")


def match_site_city(location, areas: list[dict]) -> str | None:
    """The ``city`` of *areas* that an IPLocator Location is in, or None.

    Providers say "深圳" or "深圳市" where areas say "深圳市", and some give only
    the province for a municipality ("北京"), so: the exact name, then with 市,
    then an area city that starts with it ("恩施" → "恩施土家族苗族自治州").
    """
    cities = sorted({area["city"] for area in areas})
    name = (location.city or "").strip()
    if not name and (location.province or "").strip().removesuffix("市") in MUNICIPALITIES:
        name = location.province.strip()
    if len(name) < 2:
        return None
    for candidate in (name, name + "市"):
        if candidate in cities:
            return candidate
    return next((city for city in cities if city.startswith(name.removesuffix("市"))), None)


def parse_search(handler: BaseHandler, known_facilities: set[int]) -> tuple[search.SearchFilters, dict[str, str]]:
    """Validate the search query string; returns (filters, errors by field).

    Dates are YYYY-MM-DD, both or neither, check-in today or later, check-out after it;
    prices in yuan; ``area_id`` a district's or a whole city's adcode; ``guests`` 1–MAX_GUESTS
    (``capacity`` is accepted for it); unknown facility ids, sorts and junk parameters are ignored.
    """
    errors: dict[str, str] = {}
    values: dict = {}

    def whole(name: str, low: int, high: int):
        raw = handler.arg(name, 20)
        if not raw:
            return None
        try:
            value = int(raw)
            if low <= value <= high:
                return value
        except ValueError:
            pass
        errors[name] = "参数无效"
        return None

    place = whole("area_id", 100000, 999999)
    if place is not None:
        # A city's adcode (the area select's "全市" options) searches the whole city.
        values["city_id" if areas_model.is_city_code(place) else "area_id"] = place
    # ``capacity`` is the old name of ``guests``: old links still work (rendered, never cached).
    values["guests"] = whole("guests" if handler.arg("guests", 20) or not handler.arg("capacity", 20)
                             else "capacity", 1, MAX_GUESTS)
    if "capacity" in errors:
        errors["guests"] = errors.pop("capacity")
    for name in ("price_min", "price_max"):
        raw = handler.arg(name, 20)
        if raw:
            try:
                values[f"{name}_fen"] = parse_yuan(raw)
            except ValueError:
                errors[name] = "价格须为不小于 0 的数字（元）"
    if (values.get("price_min_fen") is not None and values.get("price_max_fen") is not None
            and values["price_min_fen"] > values["price_max_fen"]):
        errors["price_max"] = "最高价不能低于最低价"
    sd, ed = handler.arg("sd", 20), handler.arg("ed", 20)
    if sd or ed:
        try:
            check_in = datetime.date.fromisoformat(sd)
            check_out = datetime.date.fromisoformat(ed)
        except ValueError:
            errors["dates"] = "请输入入住和离开日期（YYYY-MM-DD）"
        else:
            if check_in < datetime.date.today():
                errors["dates"] = "入住日期不能早于今天"
            elif check_out <= check_in:
                errors["dates"] = "离开日期须晚于入住日期"
            elif (check_out - check_in).days > MAX_STAY_NIGHTS:
                errors["dates"] = f"一次最多预订 {MAX_STAY_NIGHTS} 晚"
            else:
                values["check_in"], values["check_out"] = check_in, check_out
    facility_ids = []
    for raw in handler.args("facility"):
        if small_int(raw) in known_facilities:
            facility_ids.append(int(raw))
    values["facility_ids"] = tuple(sorted(set(facility_ids)))
    sort = handler.arg("sort", 20)
    values["sort"] = sort if sort in search.SORTS else "new"
    values["page"] = page_number(handler.arg("page", 10), MAX_PAGE)
    return search.SearchFilters(**values), errors


# The search parameters in the order the search form sends them (the pager adds page last).
SEARCH_PARAMS = ("area_id", "sd", "ed", "guests", "price_min", "price_max", "facility", "sort", "page")


def canonical_search_query(query: str, filters: search.SearchFilters) -> bool:
    """True when the raw *query* string is one the search page may be cached under: only
    known parameters, in the form's order, each once (``facility`` ascending), every
    non-empty value exactly as the validated *filters* would write it. The rendered page
    echoes the raw values (form fields, pager links), so only such queries — a bounded
    set — name a cached page; any other spelling is rendered every time."""
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                                       max_num_fields=len(SEARCH_PARAMS) + 30)
    except ValueError:
        return False
    canonical = {
        "area_id": str(filters.area_id or filters.city_id or ""), "guests": str(filters.guests or ""),
        "sd": filters.check_in.isoformat() if filters.check_in else "",
        "ed": filters.check_out.isoformat() if filters.check_out else "",
        "price_min": fen_to_yuan(filters.price_min_fen), "price_max": fen_to_yuan(filters.price_max_fen),
        "sort": filters.sort, "page": str(filters.page)}
    facilities = [str(f) for f in filters.facility_ids]  # sorted, known ids only
    position, seen_facilities = -1, []
    for name, value in pairs:
        if name not in SEARCH_PARAMS:
            return False
        index = SEARCH_PARAMS.index(name)
        if index < position or (index == position and name != "facility"):
            return False
        position = index
        if name == "facility":
            seen_facilities.append(value)
        elif value and value != canonical[name]:
            return False
    return seen_facilities == facilities


class SearchHandler(ListingBase):
    """GET /houses: filtered, sorted, paged public listings (cached as a page for
    canonical queries: :func:`canonical_search_query`)."""

    user_snapshot_ok = True

    async def get(self) -> None:
        facilities = await self.facility_choices()
        filters, errors = parse_search(self, {f["id"] for f in facilities})
        query = self.request.query
        if (not errors and canonical_search_query(query, filters)
                and await self.cached_page(f"/houses?{query}", dated=filters.check_in is not None)):
            return
        rows, total = [], 0
        if not errors:
            rows, total = await self.cached_search(filters)
        else:
            self.set_status(400)
        # The count stops at COUNT_CAP ("more" beyond it), and no page past MAX_PAGE is served.
        more = total > search.COUNT_CAP
        total = min(total, search.COUNT_CAP)
        pages = max(1, min(MAX_PAGE, -(-total // filters.per_page)))
        areas = await self.area_choices()
        if filters.area_id is not None and all(a["id"] != filters.area_id for a in areas):
            # A district outside the select's list (a link, an old bookmark): still shown as chosen.
            chosen = await areas_model.get_area(self.db, filters.area_id)
            areas = areas + [chosen] if chosen else areas
        elif filters.city_id is not None and all(areas_model.city_code(a["id"]) != filters.city_id for a in areas):
            chosen = await areas_model.city_area(self.db, filters.city_id)  # the same for a city
            areas = areas + [chosen] if chosen else areas
        await self.render_page("houses/search.html", rows=rows, total=total, more=more, filters=filters,
                               pages=pages, page_links=page_window(filters.page, pages), errors=errors,
                               areas=areas, facilities=facilities, query=self.request.query_arguments,
                               stay=card_stay(filters.check_in, filters.check_out, filters.guests),
                               clear_url=clear_filters_url(filters), chips=filter_chips(filters, areas, facilities))


def stay_query(check_in: datetime.date | None, check_out: datetime.date | None, guests: int | None) -> str:
    """A listing link's query string for a search's stay: ``sd=…&ed=…&guests=…`` with the parts
    that are set (dates both or neither), "" when none is — the canonical form of booking_query."""
    pairs = [("sd", check_in.isoformat()), ("ed", check_out.isoformat())] if check_in and check_out else []
    if guests:
        pairs.append(("guests", str(guests)))
    return urllib.parse.urlencode(pairs)


def card_stay(check_in: datetime.date | None, check_out: datetime.date | None, guests: int | None) -> dict | None:
    """What listing cards add for a search's stay: {query (see :func:`stay_query`), nights (0
    without dates)}; None when the search has neither dates nor guests."""
    query = stay_query(check_in, check_out, guests)
    if not query:
        return None
    return {"query": query, "nights": (check_out - check_in).days if check_in and check_out else 0}


def clear_filters_url(filters: search.SearchFilters) -> str:
    """The empty result's "clear the filters" link: /houses keeping only the stay (dates, guests)."""
    query = stay_query(filters.check_in, filters.check_out, filters.guests)
    return "/houses" + (f"?{query}" if query else "")


def search_url(filters: search.SearchFilters, drop: tuple[str, int | None] | None = None) -> str:
    """/houses with *filters* (validated) in the search form's canonical spelling (so the page
    cache knows it: :func:`canonical_search_query`), on page 1, leaving out the filter *drop*:
    ("area", None), ("dates", None), ("guests", None), ("price_min", None), ("price_max", None)
    or ("facility", facility_id)."""
    kind = drop[0] if drop else None
    pairs: list[tuple[str, str]] = []
    if (filters.area_id or filters.city_id) and kind != "area":
        pairs.append(("area_id", str(filters.area_id or filters.city_id)))
    if filters.check_in and filters.check_out and kind != "dates":
        pairs += [("sd", filters.check_in.isoformat()), ("ed", filters.check_out.isoformat())]
    if filters.guests and kind != "guests":
        pairs.append(("guests", str(filters.guests)))
    for name in ("price_min", "price_max"):
        fen = getattr(filters, f"{name}_fen")
        if fen is not None and kind != name:
            pairs.append((name, fen_to_yuan(fen)))
    pairs += [("facility", str(f)) for f in filters.facility_ids if drop != ("facility", f)]
    if filters.sort != "new":
        pairs.append(("sort", filters.sort))
    return "/houses" + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")


def filter_chips(filters: search.SearchFilters, areas: list[dict], facilities: list[dict]) -> list[dict]:
    """The search's active filters as removable chips: [{"label": "南山区", "url": the search
    without that filter (:func:`search_url`)}], in the form's order. The sort is not a filter.
    *areas* / *facilities* are the select's choices (for names); an unknown id shows as its number."""
    chips = []
    if filters.area_id or filters.city_id:
        if filters.area_id:
            area = next((a for a in areas if a["id"] == filters.area_id), None)
            label = area["name"] if area else str(filters.area_id)
        else:
            area = next((a for a in areas if areas_model.city_code(a["id"]) == filters.city_id), None)
            label = f"{area['city']}（全市）" if area else str(filters.city_id)
        chips.append({"label": label, "url": search_url(filters, ("area", None))})
    if filters.check_in and filters.check_out:
        a, b = filters.check_in, filters.check_out
        chips.append({"label": f"{a.month}月{a.day}日–{b.month}月{b.day}日（{(b - a).days} 晚）",
                      "url": search_url(filters, ("dates", None))})
    if filters.guests:
        chips.append({"label": f"{filters.guests} 人", "url": search_url(filters, ("guests", None))})
    if filters.price_min_fen is not None:
        chips.append({"label": f"¥{fen_to_yuan(filters.price_min_fen)} 起",
                      "url": search_url(filters, ("price_min", None))})
    if filters.price_max_fen is not None:
        chips.append({"label": f"¥{fen_to_yuan(filters.price_max_fen)} 以内",
                      "url": search_url(filters, ("price_max", None))})
    names = {f["id"]: f["name"] for f in facilities}
    for facility_id in filters.facility_ids:
        chips.append({"label": names.get(facility_id, str(facility_id)),
                      "url": search_url(filters, ("facility", facility_id))})
    return chips


def page_window(page: int, pages: int, radius: int = 2) -> list[int | None]:
    """The pager's page numbers around *page* of *pages*: the first, the last, *radius* on
    each side of the current one, None for each gap ("…"); e.g. (6, 40) →
    [1, None, 4, 5, 6, 7, 8, None, 40]. At most 2 * radius + 5 entries, whatever *pages* is."""
    shown = {1, pages, *range(max(1, page - radius), min(pages, page + radius) + 1)}
    window: list[int | None] = []
    for number in sorted(shown):
        if window and number - window[-1] == 2:
            window.append(number - 1)  # a gap of one page: show it rather than "…"
        elif window and number - window[-1] > 2:
            window.append(None)
        window.append(number)
    return window


class HouseDetailHandler(ListingBase):
    """GET /houses/<id>: gallery, facilities, host, address, price."""

    user_snapshot_ok = True

    async def get(self, house_id: str) -> None:
        # The booking form and the owner's links depend on the visitor: anonymous visitors only.
        # A page pre-filled from sd/ed/guests is kept only under its canonical query (booking_query).
        canonical = booking_query(self)[1]
        if (self.request.query == canonical
                and await self.cached_page(f"/houses/{int(house_id)}{'?' if canonical else ''}{canonical}",
                                           dated=True, anonymous_only=True)):
            return
        data = await self.house_page_data(int(house_id))
        if data is None or not self.can_see(data["house"]):
            raise PageError(404, "房源不存在或未上线")
        await self.render_page("houses/detail.html", house=data["house"], facilities=data["facilities"],
                               images=data["images"], extra=await self.detail_extra(data["house"]))

    # The booking form's values and errors after a refused POST /houses/<id>/book.
    booking_form: dict = {}
    booking_errors: dict = {}

    async def detail_extra(self, house: dict) -> dict:
        """Per-request additions to the listing page: booking form, availability calendar, reviews."""
        return await listing_extra(self, house)


PREFILL_MAX_GUESTS = 50  # the listing form's capacity limit: a larger number in a link is junk


def booking_query(handler: BaseHandler) -> tuple[dict, str]:
    """The booking form's values carried in the listing URL (``sd``, ``ed``, ``guests``, as the
    search cards link with them): (the valid ones as {"sd": "YYYY-MM-DD", "ed": …, "guests": "2"},
    their canonical query string). Invalid or past values are dropped, not refused: the link
    still shows the listing. The canonical string ("" without values) names the cached page."""
    values: dict[str, str] = {}
    today = datetime.date.today()
    try:
        check_in = datetime.date.fromisoformat(handler.arg("sd", 20))
        check_out = datetime.date.fromisoformat(handler.arg("ed", 20))
    except ValueError:
        pass
    else:
        if today <= check_in < check_out and (check_out - check_in).days <= MAX_STAY_NIGHTS:
            values.update(sd=check_in.isoformat(), ed=check_out.isoformat())
    guests = small_int(handler.arg("guests", 10), 2)
    if guests and guests <= PREFILL_MAX_GUESTS:
        values["guests"] = str(guests)
    return values, urllib.parse.urlencode(values)


def listing_url(house_id: int, values: dict) -> str:
    """/houses/<id> with the booking form's *values* as its query (for ``next`` links)."""
    query = urllib.parse.urlencode({k: v for k, v in values.items() if k in ("sd", "ed", "guests") and v})
    return f"/houses/{house_id}{'?' + query if query else ''}"


async def listing_extra(handler: HouseDetailHandler, house: dict) -> dict:
    """The listing page's booking parts for HouseDetailHandler.detail_extra.

    Sidebar: the booking form, pre-filled from the URL (:func:`booking_query`) or, after a
    refused booking, from the handler's ``booking_form`` / ``booking_errors``, with the price
    breakdown (services/pricing.py) and the free-cancellation deadline for the chosen dates.
    Sections: the availability calendar of this month and the next two, and the reviews with
    their average rating, as HTML (:func:`listing_sections`, cached). ``address``: the street
    address, for the owner and for a guest with an accepted stay only (never on the anonymous
    page, which is cached and shared). The sidebar and the address are read per request.
    """
    today = datetime.date.today()
    first = today.replace(day=1)
    user = handler.current_user
    if user and user.id == house["owner_id"]:
        blocker = "这是你自己的房源，不能预订"
    elif house["status"] != "online" or not house.get("owner_active", 1):
        blocker = "该房源当前未上线，暂不接受预订"
    else:
        blocker = None
    form = handler.booking_form or booking_query(handler)[0]
    money = deadline = None
    try:
        check_in = datetime.date.fromisoformat(form.get("sd", ""))
        nights = (datetime.date.fromisoformat(form.get("ed", "")) - check_in).days
        if nights >= 1:
            money = breakdown(house["price_fen"], nights, house["deposit_fen"])
            deadline = lifecycle.cancel_deadline(check_in, handler.config.free_cancel_hours)
    except ValueError:
        pass
    address = None
    if user and (user.id == house["owner_id"] or await orders.has_stay(handler.db, user.id, house["id"])):
        address = house["address"]
    return {
        "address": address,
        "money": money,  # the phone bar's stay total
        "sidebar": [("houses/booking_sidebar.html", {
            "booking": form, "booking_errors": handler.booking_errors, "money": money, "deadline": deadline,
            "free_cancel_hours": handler.config.free_cancel_hours, "check_in_hour": lifecycle.CHECK_IN_HOUR,
            "login_next": urllib.parse.quote(listing_url(house["id"], form), safe="/"),
            "blocker": blocker, "today": today.isoformat()})],
        "sections": await listing_sections(handler, house, first, today),
        # 收藏: the count (and the member's own heart), so the page says it without JavaScript. An
        # anonymous page is cached: its count may lag a save by the page cache's lifetime.
        "favourite": await favourites.state(handler.db, user.id if user else None, house["id"]),
    }


async def listing_sections(handler: HouseDetailHandler, house: dict, first: datetime.date,
                           today: datetime.date) -> str:
    """The listing page's availability calendar (CALENDAR_MONTHS months from *first*) and
    reviews, rendered: HTML, the same for every visitor.

    For members, kept in the page cache under the listing's name with the availability
    generation (an anonymous visitor's whole page is cached instead), so a member's view reads no booked nights or reviews and builds no calendar;
    a booking, cancellation or block moves that generation and a review the listing's, so
    the next view is exact (as the anonymous page is). Rendered as usual when Redis fails.
    """
    key = None
    if handler.current_user is not None:  # an anonymous visitor's whole page is cached instead
        key, html = await handler.cache.page_lookup(f"/houses/{house['id']}#sections", dated=True)
        if html is not None:
            return html
    booked = set(await orders.booked_nights(handler.db, house["id"], first, add_months(first, CALENDAR_MONTHS)))
    parts = [
        handler.render_string("houses/calendar.html", house=house,
                              months=calendar_months(first, CALENDAR_MONTHS, booked, today)),
        handler.render_string("houses/reviews.html", house=house,
                              reviews=await reviews.for_house(handler.db, house["id"]),
                              summary=await reviews.summary(handler.db, house["id"]), public_name=public_name),
    ]
    html = b"".join(parts).decode()
    if key is not None:
        await handler.cache.page_store(key, html)
    return html


class BookingFormError(Exception):
    """A booking form value that cannot be read: *field* (``sd``, ``ed``, ``guests``) and the message."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# How a refused booking is answered: models.orders names the kind of rule and the part of
# the booking it concerns; the status and the form field it is shown next to are decided here.
REFUSAL_STATUS = {"invalid": 400, "not_found": 404, "unavailable": 409, "own_listing": 403,
                  "taken": 409, "busy": 409}
BOOKING_FIELDS = {"check_in": "sd", "check_out": "ed", "dates": "dates", "guests": "guests"}


def parse_day(raw: str, field: str, missing: str) -> datetime.date:
    """A YYYY-MM-DD form value; raises BookingFormError naming *field*."""
    if not raw:
        raise BookingFormError(field, missing)
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise BookingFormError(field, "日期格式应为 YYYY-MM-DD") from None


def parse_guests(raw: str) -> int:
    """The form's number of guests (1 when left empty); raises BookingFormError for junk.
    The listing's capacity is checked by models.orders.book."""
    if not raw:
        return 1
    value = small_int(raw, 4)
    if value is None:
        raise BookingFormError("guests", "入住人数须为整数")
    return value


class BookHandler(HouseDetailHandler):
    """POST /houses/<id>/book (``sd``, ``ed`` as YYYY-MM-DD, ``guests`` 1..capacity) → 302 to /orders/<order_id>.

    A refused booking gets a 4xx: a problem with the dates or the number of guests shows
    the listing page again with the message next to the field; any other rule (not
    logged in, listing offline, own listing) gets the error page with its message.
    """

    async def post(self, house_id: str) -> None:
        if not self.current_user:
            raise PageError(403, "请先登录再预订")
        sd, ed, guests_raw = self.arg("sd", 20), self.arg("ed", 20), self.arg("guests", 10)
        try:
            check_in = parse_day(sd, "sd", "请选择入住日期")
            check_out = parse_day(ed, "ed", "请选择离开日期")
            guests = parse_guests(guests_raw)
            booked = await orders.book(self.db, self.current_user.id, int(house_id), check_in, check_out,
                                       datetime.date.today(), guests)
        except BookingFormError as exc:
            status, field, message = 400, exc.field, exc.message
        except orders.BookingRefused as exc:
            status = REFUSAL_STATUS[exc.reason]
            if exc.subject is None:
                raise PageError(status, exc.message)
            field, message = BOOKING_FIELDS[exc.subject], exc.message
        else:
            # A booking changes only which nights are free: dated searches, not the card or page.
            await self.cache.invalidate_availability(int(house_id))
            await self.application.announce_order(booked.order_id)  # the host sees the request live
            deposit = f"，另付押金 ¥{fen_to_yuan(booked.deposit_fen)}" if booked.deposit_fen else ""
            self.flash(f"预订已提交：{booked.nights} 晚，共 ¥{fen_to_yuan(booked.amount_fen)}{deposit}，等待房东确认")
            self.redirect(f"/orders/{booked.order_id}")
            return
        self.booking_form = {"sd": sd, "ed": ed, "guests": guests_raw}
        self.booking_errors = {field: message}
        self.set_status(status)
        await self.get(house_id)
