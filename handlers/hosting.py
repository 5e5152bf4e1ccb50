"""Hosts: publish and edit a listing, its photos and revision, its calendar blocks, delete it,
my listings.

The rules (statuses, revisions, blocks) live in models/houses.py; these handlers parse the
forms, call it, turn its errors into 4xx answers and render.
"""

from __future__ import annotations

import datetime
import math
import urllib.parse

import tornado.web

from handlers.base import PageError, page_number, small_int
from handlers.display import add_months, calendar_months
from handlers.houses import ListingBase
from handlers.listing_writes import ListingWrites
from handlers.uploads import StreamedUploadHandler, UploadedFile
from models import areas as areas_model
from models import calendar_sync
from models import houses
from models import orders
from services.house_form import fen_to_yuan, parse_house_form
from services.images import ImageError

MAX_PHOTOS_PER_UPLOAD = 10  # files in one upload request; each within the image store's byte limit
MY_PER_PAGE = 20
MY_MAX_PAGE = 1000
BLOCK_CALENDAR_MONTHS = 3

BLOCK_DATE_MESSAGES = {
    "past": ("sd", "开始日期不能早于今天"),
    "order": ("ed", "结束日期须晚于开始日期"),
    "too_long": ("ed", f"一次最多关闭 {houses.MAX_BLOCK_NIGHTS} 晚"),
    "too_far": ("ed", f"只能关闭 {houses.BLOCK_HORIZON_DAYS} 天之内的日期"),
}
REVISION_NOTE = "标题、描述和照片的修改需管理员审核，审核通过前房源页仍显示原来的内容"


class HostBase(ListingWrites, ListingBase):
    """What the host pages share: listing writes with their errors as answers (ListingWrites)."""

    def flash_outcome(self, outcome: str, done: str) -> None:
        """Flash *done*, plus what the write means for review (*outcome* from models.houses)."""
        if outcome == "revision":
            self.flash(f"{done}。{REVISION_NOTE}", "warning")
        elif outcome == "resubmitted":
            self.flash(f"{done}，房源已重新提交审核", "warning")
        else:
            self.flash(done)


class HouseFormBase(HostBase):
    """The publish and edit forms share the field handling."""

    async def render_house_form(self, status: int, form: dict, errors: dict, house: dict | None,
                                block_form: dict | None = None) -> None:
        """The publish/edit form with *status*; *form* holds the fields as typed (money in yuan),
        *errors* messages by field (``sd``/``ed`` for the calendar form), *house* the listing
        being edited (None when publishing), *block_form* the calendar form as typed."""
        self.set_status(status)
        extra = {"images": [], "revision": None, "blocks": [], "months": [],
                 "block_form": block_form or {}, "today": datetime.date.today().isoformat(), "sync": None}
        if house:
            today = datetime.date.today()
            first = today.replace(day=1)
            booked = await orders.booked_nights(self.db, house["id"], first,
                                                add_months(first, BLOCK_CALENDAR_MONTHS))
            blocks = await houses.blocks(self.db, house["id"], today)
            blocked = {night for b in blocks for night in orders.nights_between(b["check_in"], b["check_out"])}
            months = calendar_months(first, BLOCK_CALENDAR_MONTHS, set(booked), today)
            for month in months:  # tell the host's own blocks apart from guests' bookings
                for week in month["weeks"]:
                    for day in week:
                        if day and day["state"] == "booked" and datetime.date.fromisoformat(day["date"]) in blocked:
                            day["state"] = "blocked"
            extra.update(images=await houses.images(self.db, house["id"], "all"),
                         revision=await houses.revision(self.db, house["id"]),
                         blocks=blocks, months=months, sync=await self.calendar_sync_panel(house))
        self.render("houses/form.html", form=form, errors=errors, house=house, **extra,
                    changed_fields=houses.changed_fields,
                    areas=await self.area_choices(), facilities=await self.facility_choices(),
                    publish_blocker=await self.publish_blocker())

    async def calendar_sync_panel(self, house: dict) -> dict:
        """The 日历同步 part of the edit page (templates/houses/calendar_sync.html): the export
        link and the external feeds (models.calendar_sync.panel); ``url`` is what a refused
        feed form typed (handlers/calendar_sync.py sets it)."""
        panel = await calendar_sync.panel(self.db, house["id"])
        origin = self.config.site_origin or f"{self.request.protocol}://{self.request.host}"
        panel["export_url"] = f"{origin}/houses/{house['id']}/calendar.ics?token={panel['token']}"
        panel["url"] = ""
        return panel

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
            "title", "description", "price", "area_id", "address", "neighbourhood", "room_count", "acreage",
            "unit", "capacity", "beds", "deposit", "min_days", "max_days")}
        raw["facility"] = [v for v in map(small_int, self.args("facility")) if v is not None]
        return values, facility_ids, errors, raw

    async def saved_form(self, house: dict) -> dict:
        """The edit form's fields for *house* as stored (money in yuan); the title and description
        of its pending revision when it has one (the host goes on editing their proposal)."""
        form = {name: house[name] for name in houses.EDITABLE}
        form["price"] = fen_to_yuan(house["price_fen"])
        form["deposit"] = fen_to_yuan(house["deposit_fen"])
        form["description"] = house["description"] or ""
        rev = await houses.revision(self.db, house["id"])
        if rev is not None and rev["status"] == "pending":
            form["title"], form["description"] = rev["title"], rev["description"] or ""
        form["facility"] = await houses.facility_ids(self.db, house["id"])
        return form


class HouseNewHandler(HouseFormBase):
    """GET,POST /houses/new: publish a listing (pending until an admin approves it)."""

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
        house_id = await houses.publish(self.db, self.current_user.id, values, facility_ids)
        await self.cache.invalidate_house(house_id)
        self.flash("房源已提交，管理员审核通过后公开。现在上传几张照片吧")
        self.redirect(f"/houses/{house_id}/edit#photos")


class HouseEditHandler(HouseFormBase):
    """GET,POST /houses/<id>/edit: the owner edits the listing, its photos and calendar.

    An online listing stays online: a changed title or description waits in its pending
    revision (models/houses.py), the other fields apply at once.
    """

    @tornado.web.authenticated
    async def get(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        await self.render_house_form(200, await self.saved_form(house), {}, house)

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        values, facility_ids, errors, raw = await self.read_form()
        if errors:
            await self.render_house_form(400, raw, errors, house)
            return
        result = await self.listing_write(houses.edit(self.db, house["id"], values, facility_ids))
        await self.cache.invalidate_house(house["id"])
        self.flash_outcome(result.outcome, "房源已保存")
        self.redirect(f"/houses/{house['id']}/edit")


class RevisionWithdrawHandler(HostBase):
    """POST /houses/<id>/revision/withdraw: the host takes back the pending (or rejected)
    revision; the public listing is unchanged, the photos it added are removed."""

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        house = await self.owned_house(int(house_id))
        keys = await self.listing_write(houses.withdraw_revision(self.db, house["id"]))
        await self.remove_files(keys)
        await self.cache.invalidate_house(house["id"])
        self.flash("已撤回修改，房源保持原来的内容", "info")
        self.redirect(f"/houses/{house['id']}/edit")


class CalendarBase(HouseFormBase):
    """POST /houses/<id>/calendar/(block|unblock) with ``sd``, ``ed`` (YYYY-MM-DD, half-open)."""

    def read_dates(self) -> tuple[datetime.date | None, datetime.date | None, dict, dict]:
        """(check_in, check_out, errors by field, the form as typed)."""
        form = {"sd": self.arg("sd", 20), "ed": self.arg("ed", 20)}
        days: dict[str, datetime.date | None] = {}
        errors: dict[str, str] = {}
        for name, missing in (("sd", "请选择开始日期"), ("ed", "请选择结束日期")):
            days[name] = None
            if not form[name]:
                errors[name] = missing
                continue
            try:
                days[name] = datetime.date.fromisoformat(form[name])
            except ValueError:
                errors[name] = "日期格式应为 YYYY-MM-DD"
        return days["sd"], days["ed"], errors, form

    async def refuse(self, house: dict, status: int, errors: dict, form: dict) -> None:
        """The edit page again with the calendar form's *errors* and *status*."""
        await self.render_house_form(status, await self.saved_form(house), errors, house, form)

    async def change_calendar(self, house_id: str, write) -> tuple[dict, datetime.date, datetime.date, object] | None:
        """Read ``sd``/``ed`` and await ``write(house_id, check_in, check_out)`` (models.houses.block
        or unblock) for the current user's listing: (house, check_in, check_out, its result), or
        None once a refusal has been answered with the edit page again, the message next to its
        field (400; 409 naming the nights guests have booked)."""
        house = await self.owned_house(int(house_id))
        check_in, check_out, errors, form = self.read_dates()
        status = 400
        if not errors:
            try:
                return house, check_in, check_out, await self.listing_write(write(house["id"], check_in, check_out))
            except houses.DatesRefused as exc:
                name, message = BLOCK_DATE_MESSAGES[exc.reason]
                errors = {name: message}
            except houses.DatesTaken as exc:
                shown = "、".join(d.isoformat() for d in exc.nights[:10])
                more = f" 等 {len(exc.nights)} 晚" if len(exc.nights) > 10 else ""
                status, errors = 409, {"sd": f"这些日期已有房客预订，不能关闭：{shown}{more}"}
        await self.refuse(house, status, errors, form)
        return None


class CalendarBlockHandler(CalendarBase):
    """POST /houses/<id>/calendar/block: close nights for the host's own use.

    Nights booked by guests refuse the whole range (409, the dates named next to the
    field); merged with blocks it overlaps or touches.
    """

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        changed = await self.change_calendar(
            house_id, lambda hid, check_in, check_out: houses.block(self.db, hid, check_in, check_out,
                                                                    datetime.date.today()))
        if changed is None:
            return
        house, check_in, check_out, _ = changed
        await self.cache.invalidate_house(house["id"])
        self.flash(f"已关闭 {check_in.isoformat()} 至 {check_out.isoformat()}（不含）的日期，房客不能预订")
        self.redirect(f"/houses/{house['id']}/edit#calendar")


class CalendarUnblockHandler(CalendarBase):
    """POST /houses/<id>/calendar/unblock: reopen the host's blocked nights within [sd, ed)."""

    @tornado.web.authenticated
    async def post(self, house_id: str) -> None:
        changed = await self.change_calendar(
            house_id, lambda hid, check_in, check_out: houses.unblock(self.db, hid, check_in, check_out))
        if changed is None:
            return
        house, _, _, freed = changed
        await self.cache.invalidate_house(house["id"])
        if freed:
            self.flash(f"已重新开放 {freed} 晚")
        else:
            self.flash("这些日期没有被关闭", "info")
        self.redirect(f"/houses/{house['id']}/edit#calendar")


class PhotoBase(HostBase):
    """What the photo routes share: answers for people and for the upload script."""

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
        keys = await self.listing_write(houses.delete_listing(self.db, house["id"]))
        await self.remove_files(keys)
        await self.cache.invalidate_house(house["id"])
        self.flash("房源已删除", "info")
        self.redirect("/my/houses")


class HouseImagesHandler(StreamedUploadHandler, PhotoBase):
    """POST /houses/<id>/images: upload one or more photos (field ``image``), streamed.

    The session, XSRF token (header or query; or the form's first field) and
    ownership are checked before the body is read (handlers/uploads.py). All
    or nothing: if any file is not an acceptable image, the ones already
    stored from this request are removed and nothing is recorded. On an online
    listing the photos wait in its revision until an admin approves them.
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
        try:
            result = await self.listing_write(houses.add_photos(
                self.db, house["id"], [(item.key, item.width, item.height) for item in stored]))
        except PageError as exc:
            await self.images.delete_many([item.key for item in stored])  # no file without its row
            await self.fail(house, exc.message, exc.status_code)
            return
        except BaseException:
            await self.images.delete_many([item.key for item in stored])
            raise
        await self.cache.invalidate_house(house["id"])
        # The script reloads the page on success, so the flash shows there as well.
        self.flash_outcome(result.outcome, f"已上传 {len(stored)} 张照片")
        if self.wants_json():
            self.finish({"ok": True, "count": len(stored)})
            return
        self.redirect(f"/houses/{house['id']}/edit#photos")


class HouseImageDeleteHandler(PhotoBase):
    """POST /houses/<id>/images/<image_id>/delete (the edit page asks to confirm first).

    On an online listing an approved photo stays public until the revision that
    removes it is approved.
    """

    @tornado.web.authenticated
    async def post(self, house_id: str, image_id: str) -> None:
        house = await self.owned_house(int(house_id))
        result = await self.listing_write(houses.remove_photo(self.db, house["id"], int(image_id)))
        # The row is gone for good before the file goes: never a row without its file.
        await self.remove_files(result.remove_keys)
        await self.cache.invalidate_house(house["id"])
        self.flash_outcome(result.outcome, "照片已删除")
        self.redirect(f"/houses/{house['id']}/edit#photos")


class HouseImageCoverHandler(PhotoBase):
    """POST /houses/<id>/images/<image_id>/cover: make a photo the cover."""

    @tornado.web.authenticated
    async def post(self, house_id: str, image_id: str) -> None:
        house = await self.owned_house(int(house_id))
        result = await self.listing_write(houses.choose_cover(self.db, house["id"], int(image_id)))
        await self.cache.invalidate_house(house["id"])
        self.flash_outcome(result.outcome, "封面已更新")
        self.redirect(f"/houses/{house['id']}/edit#photos")


MY_FILTER_LABELS = {"all": "全部", "online": "已上线", "pending": "审核中", "rejected": "未通过", "offline": "已下线"}


class MyHousesHandler(ListingBase):
    """GET /my/houses?status=all|online|pending|rejected|offline&page=N: the landlord's
    listings, 20 a page, with status, pending revisions and actions."""

    @tornado.web.authenticated
    async def get(self) -> None:
        status = self.arg("status", 20) or "all"
        if status not in houses.OWNER_FILTERS:
            raise PageError(400, "未知的房源状态")
        counts = await houses.owner_counts(self.db, self.current_user.id)
        pages = max(1, math.ceil(counts[status] / MY_PER_PAGE))
        page = min(page_number(self.arg("page", 10), MY_MAX_PAGE), pages)
        rows = await houses.by_owner(self.db, self.current_user.id, status, MY_PER_PAGE,
                                     (page - 1) * MY_PER_PAGE)
        self.render("houses/my.html", rows=rows, status=status, counts=counts, page=page, pages=pages,
                    labels=MY_FILTER_LABELS, urlencode=urllib.parse.urlencode)
