"""Listings: home page, search, listing page, publish/edit/delete, photos, my listings."""

from __future__ import annotations

import datetime
import logging
import urllib.parse

import tornado.web

from handlers.base import BaseHandler, PageError, page_number, small_int
from handlers.uploads import StreamedUploadHandler, UploadedFile
from models import areas as areas_model
from models import admin as moderation
from models import houses
from services import cache as cache_keys
from services.house_form import fen_to_yuan, parse_house_form, parse_yuan
from services.images import ImageError

HOME_TOP = 5
HOME_LATEST = 12
MAX_PAGE = 500
MAX_STAY_NIGHTS = 365
MAX_PHOTOS_PER_UPLOAD = 10  # files in one upload request; each within the image store's byte limit

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

    async def cached_search(self, filters: houses.SearchFilters) -> tuple[list[dict], int]:
        """(cards of the requested page, total) for validated *filters*, cached under
        the current search generation (any listing write makes every result fresh; a
        booking only those with dates). total is capped: above houses.COUNT_CAP it is
        COUNT_CAP + 1, meaning "more"."""
        key = await self.cache.search_key(filters.normalised(), dated=filters.check_in is not None)

        async def load():
            found, count = await houses.search(self.db, filters)
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
            return {"top": await houses.public_cards(self.db, "booking", HOME_TOP),
                    "latest": await houses.public_cards(self.db, "new", HOME_LATEST)}
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


def parse_search(handler: BaseHandler, known_facilities: set[int]) -> tuple[houses.SearchFilters, dict[str, str]]:
    """Validate the search query string; returns (filters, errors by field).

    Dates are YYYY-MM-DD, both or neither, check-in today or later, check-out after it;
    prices in yuan; unknown facility ids, sorts and junk parameters are ignored.
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

    values["area_id"] = whole("area_id", 100000, 999999)
    values["capacity"] = whole("capacity", 1, 50)
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
    values["sort"] = sort if sort in houses.SORTS else "new"
    values["page"] = page_number(handler.arg("page", 10), MAX_PAGE)
    return houses.SearchFilters(**values), errors


# The search parameters in the order the search form sends them (the pager adds page last).
SEARCH_PARAMS = ("area_id", "sd", "ed", "price_min", "price_max", "capacity", "facility", "sort", "page")


def canonical_search_query(query: str, filters: houses.SearchFilters) -> bool:
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
        "area_id": str(filters.area_id or ""), "capacity": str(filters.capacity or ""),
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
        more = total > houses.COUNT_CAP
        total = min(total, houses.COUNT_CAP)
        pages = max(1, min(MAX_PAGE, -(-total // filters.per_page)))
        areas = await self.area_choices()
        if filters.area_id is not None and all(a["id"] != filters.area_id for a in areas):
            # A district outside the select's list (a link, an old bookmark): still shown as chosen.
            chosen = await areas_model.get_area(self.db, filters.area_id)
            areas = areas + [chosen] if chosen else areas
        await self.render_page("houses/search.html", rows=rows, total=total, more=more, filters=filters,
                               pages=pages, page_links=page_window(filters.page, pages), errors=errors,
                               areas=areas, facilities=facilities, query=self.request.query_arguments)


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
        if await self.cached_page(f"/houses/{int(house_id)}", dated=True, anonymous_only=True):
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
        # Imported here: handlers.orders builds on this module (BookHandler is a HouseDetailHandler).
        from handlers.orders import listing_extra
        return await listing_extra(self, house)


def _same_text(value: str | None) -> str:
    """*value* as compared for moderation: browsers post textarea line breaks as CRLF."""
    return (value or "").replace("\r\n", "\n").strip()


class HouseFormBase(ListingBase):
    """The publish and edit forms share the field handling."""

    async def render_house_form(self, status: int, form: dict, errors: dict, house: dict | None) -> None:
        """The publish/edit form with *status*; *form* holds the fields as typed (money in yuan),
        *errors* messages by field, *house* the listing being edited (None when publishing)."""
        self.set_status(status)
        images = await houses.images(self.db, house["id"]) if house else []
        self.render("houses/form.html", form=form, errors=errors, house=house, images=images,
                    areas=await self.area_choices(), facilities=await self.facility_choices(),
                    publish_blocker=await self.publish_blocker())

    async def publish_blocker(self) -> str | None:
        """A reason the current user may not publish, or None: publishing needs real-name verification."""
        user = self.current_user
        if user is None or not user.verified:
            return "发布房源前需要先完成实名认证。"
        return None

    async def read_form(self) -> tuple[dict, list[int], dict, dict]:
        """(values, facility ids, errors, raw form for re-display) from the posted form."""
        facilities = await self.facility_choices()
        values, facility_ids, errors = parse_house_form(self.arg, self.args, {f["id"] for f in facilities})
        if "area_id" in values and "area_id" not in errors:
            if await areas_model.get_area(self.db, values["area_id"]) is None:
                errors["area_id"] = "请选择所在区域"
        raw = {name: self.arg(name) for name in (
            "title", "description", "price", "area_id", "address", "room_count", "acreage", "unit",
            "capacity", "beds", "deposit", "min_days", "max_days")}
        raw["facility"] = [v for v in map(small_int, self.args("facility")) if v is not None]
        return values, facility_ids, errors, raw

    def status_after_edit(self, house: dict, values: dict) -> str:
        """Status after the owner edits *house* with the form *values*.

        A rejected listing goes back to review on any saved edit (the owner is
        answering the rejection); an online one when its title or description
        changes; pending stays pending and offline stays offline (only an admin
        takes it back online).
        """
        if house["status"] == "rejected":
            return "pending"
        if house["status"] == "online" and (
                _same_text(values.get("title")) != _same_text(house.get("title"))
                or _same_text(values.get("description")) != _same_text(house.get("description"))):
            return "pending"
        return house["status"]


class HouseNewHandler(HouseFormBase):
    """GET,POST /houses/new: publish a listing."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.render_house_form(200, {"min_days": "1", "max_days": "0", "facility": []}, {}, None)

    @tornado.web.authenticated
    async def post(self) -> None:
        blocker = await self.publish_blocker()
        if blocker:
            raise PageError(403, blocker)
        values, facility_ids, errors, raw = await self.read_form()
        if errors:
            await self.render_house_form(400, raw, errors, None)
            return
        async with self.db.transaction() as tx:
            # A new listing waits for an admin's approval before anyone else sees it.
            house_id = await houses.create(tx, self.current_user.id, values, facility_ids,
                                           status="pending")
        await self.cache.invalidate_house(house_id)
        self.flash("房源已提交，管理员审核通过后公开。现在上传几张照片吧")
        self.redirect(f"/houses/{house_id}/edit#photos")


class HouseEditHandler(HouseFormBase):
    """GET,POST /houses/<id>/edit: the owner edits the listing and manages photos."""

    @tornado.web.authenticated
    async def get(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        form = {name: house[name] for name in houses.EDITABLE}
        form["price"] = fen_to_yuan(house["price_fen"])
        form["deposit"] = fen_to_yuan(house["deposit_fen"])
        form["description"] = house["description"] or ""
        form["facility"] = await houses.facility_ids(self.db, house["id"])
        await self.render_house_form(200, form, {}, house)

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        values, facility_ids, errors, raw = await self.read_form()
        if errors:
            await self.render_house_form(400, raw, errors, house)
            return
        async with self.db.transaction() as tx:
            # The status is decided on the locked row, not on the one read above:
            # an admin approving in between must not let unreviewed text go online.
            await moderation.lock_house(tx, house["id"])
            house = await houses.get(tx, house["id"])
            if house is None:
                raise PageError(404, "房源不存在")
            status = self.status_after_edit(house, values)
            await houses.update(tx, house["id"], values, facility_ids)
            if status != house["status"]:
                await houses.set_status(tx, house["id"], status)
        await self.cache.invalidate_house(house["id"])
        if status == "pending" and house["status"] != "pending":
            self.flash("房源已保存，修改内容需管理员审核，审核通过前不公开", "warning")
        else:
            self.flash("房源已保存")
        self.redirect(f"/houses/{house['id']}/edit")


BUSY_MESSAGE = "这套房源正在被同时修改，请稍后再试"


class PhotoBase(ListingBase):
    """What the photo routes share: the listing lock, answers for people and for the upload script."""

    async def photo_write(self, house_id: int, work):
        """``houses.photo_write`` with its errors as answers: 404 when the listing is
        gone, 409 (with a message) when its row stayed locked through the retries."""
        try:
            return await houses.photo_write(self.db, house_id, work)
        except houses.ListingGone:
            raise PageError(404, "房源不存在") from None
        except houses.ListingBusy:
            log.warning("listing %s: photo write gave up on lock contention", house_id)
            raise PageError(409, BUSY_MESSAGE) from None

    async def after_photos_changed(self, tx, house: dict) -> None:
        """Inside the photo transaction: an online or rejected listing goes back to review."""
        await moderation.send_back_to_review(tx, house["id"])

    async def remove_files(self, keys: list[str]) -> None:
        """Delete the files of *keys* after their rows are gone for good (committed).

        Best effort: the write has happened, so a disk error is logged, never
        turned into an error page; an orphan file is served to no one (no row
        refers to its key).
        """
        try:
            await self.images.delete_many(keys)
        except OSError:
            log.exception("could not remove the files of %d photo(s)", len(keys))

    def wants_json(self) -> bool:
        """True for the upload form's script (Accept: application/json), which shows its own progress."""
        return "application/json" in self.request.headers.get("Accept", "")

    async def fail(self, house: dict, message: str, status: int = 400) -> None:
        """Refuse an upload with *status* and *message*: JSON for the script, else the upload error page."""
        self.set_status(status)
        if self.wants_json():
            self.finish({"ok": False, "error": message})
            return
        self.render("houses/upload_error.html", house=house, message=message)


class HouseDeleteHandler(PhotoBase):
    """POST /houses/<id>/delete: soft delete (status 'deleted'); bookings keep their rows.

    The photos' rows go in the same transaction; their files are removed after
    it commits, so the pictures of a deleted listing stay nowhere.
    """

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        keys = await self.photo_write(house["id"], lambda tx, locked: houses.delete_listing(tx, locked["id"]))
        await self.remove_files(keys)
        await self.cache.invalidate_house(house["id"])
        self.flash("房源已删除", "info")
        self.redirect("/my/houses")


class HouseImagesHandler(StreamedUploadHandler, PhotoBase):
    """POST /houses/<id>/images: upload one or more photos (field ``image``), streamed.

    The session, XSRF token (header or query; or the form's first field) and
    ownership are checked before the body is read (handlers/uploads.py). All
    or nothing: if any file is not an acceptable image, the ones already
    stored from this request are removed and nothing is recorded.
    """

    upload_field = "image"
    max_files = MAX_PHOTOS_PER_UPLOAD
    _house: dict | None = None

    async def authorize_upload(self, house_id: str) -> None:
        self._house = await self.owned_house(int(house_id))

    async def refuse_upload(self, message: str, status: int = 400) -> None:
        if self._house is None:
            raise PageError(status, message)
        await self.fail(self._house, message, status)

    async def handle_upload(self, files: list[UploadedFile], house_id: str) -> None:
        house = self._house
        if not files or all(f.size == 0 for f in files):
            await self.fail(house, "请选择要上传的图片")
            return
        stored = []
        try:
            for upload in files:
                stored.append(await self.images.save(upload.path))
        except ImageError as exc:
            await self.images.delete_many([item.key for item in stored])
            await self.fail(house, f"{files[len(stored)].filename or '图片'}：{exc}")
            return

        async def record(tx, locked: dict) -> None:
            for item in stored:
                await houses.add_image(tx, locked["id"], item.key, item.width, item.height)
            await self.after_photos_changed(tx, locked)

        try:
            await self.photo_write(house["id"], record)
        except PageError as exc:
            await self.images.delete_many([item.key for item in stored])  # no file without its row
            await self.fail(house, exc.message, exc.status_code)
            return
        except BaseException:
            await self.images.delete_many([item.key for item in stored])
            raise
        await self.cache.invalidate_house(house["id"])
        if self.wants_json():
            self.finish({"ok": True, "count": len(stored)})
            return
        self.flash(f"已上传 {len(stored)} 张照片")
        self.redirect(f"/houses/{house['id']}/edit#photos")


class HouseImageDeleteHandler(PhotoBase):
    """POST /houses/<id>/images/<image_id>/delete."""

    @tornado.web.authenticated
    async def post(self, house_id: str, image_id: str) -> None:
        house = await self.owned_house(int(house_id))

        async def remove(tx, locked: dict) -> str:
            key = await houses.delete_image(tx, locked["id"], int(image_id))
            if key is None:
                raise PageError(404, "照片不存在")
            await self.after_photos_changed(tx, locked)
            return key

        key = await self.photo_write(house["id"], remove)
        # The row is gone for good before the file goes: never a row without its file.
        await self.remove_files([key])
        await self.cache.invalidate_house(house["id"])
        self.flash("照片已删除", "info")
        self.redirect(f"/houses/{house['id']}/edit#photos")


class HouseImageCoverHandler(PhotoBase):
    """POST /houses/<id>/images/<image_id>/cover: make a photo the cover."""

    @tornado.web.authenticated
    async def post(self, house_id: str, image_id: str) -> None:
        house = await self.owned_house(int(house_id))
        changed = await self.photo_write(
            house["id"], lambda tx, locked: houses.set_cover(tx, locked["id"], int(image_id)))
        if not changed:
            raise PageError(404, "照片不存在")
        await self.cache.invalidate_house(house["id"])
        self.flash("封面已更新")
        self.redirect(f"/houses/{house['id']}/edit#photos")


class MyHousesHandler(ListingBase):
    """GET /my/houses: the landlord's listings with status and actions."""

    @tornado.web.authenticated
    async def get(self) -> None:
        rows = await houses.by_owner(self.db, self.current_user.id)
        self.render("houses/my.html", rows=rows)
