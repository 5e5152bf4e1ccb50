"""Hosts: publish and edit a listing, its photos, delete it, my listings."""

from __future__ import annotations

import logging

import tornado.web

from handlers.base import PageError, small_int
from handlers.houses import ListingBase
from handlers.uploads import StreamedUploadHandler, UploadedFile
from models import areas as areas_model
from models import admin as moderation
from models import houses
from services.house_form import fen_to_yuan, parse_house_form
from services.images import ImageError

MAX_PHOTOS_PER_UPLOAD = 10  # files in one upload request; each within the image store's byte limit

log = logging.getLogger("ihome.hosting")

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
            "title", "description", "price", "area_id", "address", "neighbourhood", "room_count", "acreage", "unit",
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
