"""The admin area: its own login page, dashboard, moderation, users, orders, login audit.

Every ``/admin`` page but the login page derives from :class:`AdminBase`, which
lets a request through only when the user is an admin AND the session was
started on ``/admin/login`` (``Session.is_admin``: a shorter idle time). Anyone
else is refused in ``prepare``, before any handler method runs:

* a non-admin user → 403;
* otherwise a GET (logged out, or an admin with an ordinary session) → redirect
  to ``/admin/login?next=…``;
* otherwise (a POST) → 403: an action is never replayed after a login page.

Each admin action and the change it makes are written in one transaction, the
action to ``admin_actions``; caches are invalidated after the commit.
"""

from __future__ import annotations

import datetime
import json
import math
import urllib.parse

from handlers.auth import LoginHandler
from handlers.base import BaseHandler, PageError, page_number, safe_next
from handlers.listing_writes import HOUSE_STATUS_LABELS, ListingWrites
from models import admin as admin_model
from models import houses as houses_model
from models import orders as orders_model
from models import revocations
from models import stats


PER_PAGE = 20
LOGINS_PER_PAGE = 50
MAX_PAGE = 10_000
REASON_MAX = 255

ORDER_STATUS_LABELS = orders_model.STATUS_LABELS


def json_for_script(value) -> str:
    """JSON of *value* safe to place inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` … so no text in the data can close the
    script element or open a comment; JSON.parse reads them back unchanged.
    """
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class AdminLoginHandler(LoginHandler):
    """GET,POST /admin/login: the admins' own login page; starts an admin session.

    The mobile and password are checked by LoginHandler.authenticate (which shows
    the form itself on failure); through :meth:`refusal`, a correct password of a
    non-admin account is refused with a message and 403 and recorded as a failed
    login. Success always lands inside /admin.
    """

    template = "admin/login.html"
    admin_login = True  # recorded as login_events.is_admin_login

    async def get(self) -> None:
        if self.is_admin_session():
            self.redirect(self.admin_next())
            return
        self.show()

    async def post(self) -> None:
        user = await self.authenticate()
        if user is None:
            return
        await self.start_session(user, is_admin=True)
        self.flash("已登录管理后台")
        self.redirect(self.admin_next())

    def refusal(self, user) -> str | None:
        """Besides a disabled account, a non-admin one is refused here (and logged as a failure)."""
        if not user.is_admin and user.is_active:
            return "该账号没有管理员权限，不能登录管理后台"
        return super().refusal(user)

    def is_admin_session(self) -> bool:
        return bool(self.current_user and self.current_user.is_admin
                    and self.current_session and self.current_session.is_admin)

    def admin_next(self) -> str:
        """The posted ``next`` when it is an admin page, else /admin."""
        target = safe_next(self.get_argument("next", None), "/admin")
        path = urllib.parse.urlsplit(target).path
        return target if path == "/admin" or path.startswith("/admin/") else "/admin"


class AdminBase(BaseHandler):
    """Base of every admin page: the access check, paging and the action log helpers."""

    async def prepare(self) -> None:
        await super().prepare()
        user = self.current_user
        if user and user.is_admin and self.current_session and self.current_session.is_admin:
            # Admin pages show personal data: keep them out of shared caches and history.
            self.set_header("Cache-Control", "no-store")
            return
        if user and not user.is_admin:
            raise PageError(403, "需要管理员权限")
        if self.request.method == "GET":
            self.redirect("/admin/login?" + urllib.parse.urlencode({"next": self.request.uri}))
            return
        raise PageError(403, "请先在管理后台登录页登录")

    @property
    def admin_id(self) -> int:
        return self.current_user.id

    def page(self) -> int:
        """The ``page`` query value (1-based, at most MAX_PAGE)."""
        return page_number(self.arg("page", 10), MAX_PAGE)

    def get_template_namespace(self) -> dict:
        namespace = super().get_template_namespace()
        namespace.update(action_labels=admin_model.ACTION_LABELS, order_labels=ORDER_STATUS_LABELS,
                         house_labels=HOUSE_STATUS_LABELS, urlencode=urllib.parse.urlencode)
        return namespace

    def reason(self) -> str:
        """The posted ``reason``, stripped, at most 255 characters."""
        return self.arg("reason", REASON_MAX)

    def back(self, default: str) -> None:
        """Redirect to the posted ``next`` (an admin page) or *default*."""
        target = safe_next(self.get_argument("next", None), default)
        self.redirect(target if target.startswith("/admin") else default)


# -- dashboard -------------------------------------------------------------------

class AdminDashboardHandler(AdminBase):
    """GET /admin: totals and the charts' data."""

    async def get(self) -> None:
        totals = await stats.totals(self.db)
        daily = await stats.daily_counts(self.db, 30)
        areas = await stats.houses_per_area(self.db)
        charts = {
            "daily": daily,
            "areas": {"labels": [a["label"] for a in areas], "counts": [a["n"] for a in areas]},
            "orders": {"labels": [ORDER_STATUS_LABELS[s] for s in totals["orders"]],
                       "statuses": list(totals["orders"]), "counts": list(totals["orders"].values())},
        }
        self.render("admin/dashboard.html", totals=totals, charts=charts, areas=areas,
                    chart_json=json_for_script(charts), revenue_statuses=stats.REVENUE_STATUSES)


# -- listings ---------------------------------------------------------------------

class AdminHousesHandler(AdminBase):
    """GET /admin/houses?status=pending|revision|online|rejected|offline&page=N: the moderation
    lists (``revision``: online listings whose pending changes wait for review)."""

    async def get(self) -> None:
        status = self.arg("status", 20) or "pending"
        if status not in (*admin_model.HOUSE_STATUSES, "revision"):
            raise PageError(400, "未知的房源状态")
        page = self.page()
        if status == "revision":
            rows, total = await admin_model.list_revisions(self.db, page, PER_PAGE)
        else:
            rows, total = await admin_model.list_houses(self.db, status, page, PER_PAGE)
        counts = await admin_model.house_counts(self.db)
        counts["revision"] = await admin_model.revision_count(self.db)
        self.render("admin/houses.html", rows=rows, total=total, status=status, page=page,
                    pages=max(1, math.ceil(total / PER_PAGE)), counts=counts)


class HouseAdminBase(ListingWrites, AdminBase):
    """Shared by the listing page and the moderation actions (which re-render it on bad input)."""

    async def render_house(self, house_id: int, status: int = 200, errors: dict | None = None,
                           form: dict | None = None) -> None:
        """The admin listing page with *status*, per-field *errors* and the *form* values to show
        again; PageError 404 for an unknown id. A pending revision is shown beside the public
        version (changed fields, photos added and removed)."""
        house = await admin_model.get_house(self.db, house_id)
        if house is None:
            raise PageError(404, "房源不存在")
        rev = await houses_model.revision(self.db, house_id)
        all_images = await houses_model.images(self.db, house_id, "all")
        self.set_status(status)
        self.render("admin/house.html", house=house, errors=errors or {}, form=form or {},
                    images=[i for i in all_images if i["stage"] != "added"],
                    staged=[i for i in all_images if i["stage"] != "live"],
                    revision=rev, changed=houses_model.changed_fields(house, rev) if rev else [],
                    revision_cover=next((i for i in all_images if rev and i["id"] == rev["cover_image_id"]), None),
                    facilities=await houses_model.facilities(self.db, house_id),
                    actions=await admin_model.actions_for(self.db, "house", house_id),
                    transitions=houses_model.MODERATION)


class AdminHouseHandler(HouseAdminBase):
    """GET /admin/houses/<id>: the listing, its photos, its pending revision, moderation forms
    and action history."""

    async def get(self, house_id: str) -> None:
        await self.render_house(int(house_id))


class AdminHouseActionHandler(HouseAdminBase):
    """POST /admin/houses/<id>/(approve|reject|offline): one moderation decision.

    ``reason`` is required to reject (the landlord reads it in 我的房源) and
    optional to take a listing offline. A decision the listing's current status
    does not allow (approving an online listing, …) is refused with 409.
    """

    action = ""

    async def post(self, house_id_raw: str) -> None:
        house_id = int(house_id_raw)
        reason = self.reason()
        if self.action == "reject" and not reason:
            await self.render_house(house_id, 400, {"reason": "请填写驳回理由，房东会看到它"}, {"reason": reason})
            return
        keys = await self.listing_write(houses_model.moderate(
            self.db, house_id, self.action, self.admin_id, reason or None))
        await self.remove_files(keys)
        await self.cache.invalidate_house(house_id)
        self.flash(f"房源 #{house_id} 已{admin_model.ACTION_LABELS[self.action]}")
        self.back(f"/admin/houses/{house_id}")


class AdminHouseApproveHandler(AdminHouseActionHandler):
    """POST /admin/houses/<id>/approve."""

    action = "approve"


class AdminHouseRejectHandler(AdminHouseActionHandler):
    """POST /admin/houses/<id>/reject (``reason`` required)."""

    action = "reject"


class AdminHouseOfflineHandler(AdminHouseActionHandler):
    """POST /admin/houses/<id>/offline (``reason`` optional)."""

    action = "offline"


class AdminRevisionHandler(HouseAdminBase):
    """POST /admin/houses/<id>/revision/(approve|reject): decide a listing's pending revision.

    Approving makes its title, description, photos and cover the public listing; rejecting
    (``reason`` required, the host reads it) undoes its photo changes and leaves the public
    listing as it was. 409 when there is no pending revision.
    """

    approve = True

    async def post(self, house_id_raw: str) -> None:
        house_id = int(house_id_raw)
        reason = self.reason()
        if not self.approve and not reason:
            await self.render_house(house_id, 400, {"revision_reason": "请填写驳回理由，房东会看到它"},
                                    {"revision_reason": reason})
            return
        keys = await self.listing_write(houses_model.decide_revision(
            self.db, house_id, self.admin_id, self.approve, reason or None))
        await self.remove_files(keys)
        await self.cache.invalidate_house(house_id)
        self.flash(f"房源 #{house_id} 的修改已{'审核通过' if self.approve else '驳回'}")
        self.back(f"/admin/houses/{house_id}")


class AdminRevisionApproveHandler(AdminRevisionHandler):
    """POST /admin/houses/<id>/revision/approve."""

    approve = True


class AdminRevisionRejectHandler(AdminRevisionHandler):
    """POST /admin/houses/<id>/revision/reject (``reason`` required)."""

    approve = False


# -- users ------------------------------------------------------------------------

class AdminUsersHandler(AdminBase):
    """GET /admin/users?q=…&page=N: search by mobile or name (substring)."""

    async def get(self) -> None:
        q = self.arg("q", 32)
        page = self.page()
        rows, total = await admin_model.search_users(self.db, q, page, PER_PAGE)
        self.render("admin/users.html", rows=rows, total=total, q=q, page=page,
                    pages=max(1, math.ceil(total / PER_PAGE)))


class AdminUserHandler(AdminBase):
    """GET /admin/users/<id>: the account, its listings, recent logins and action history."""

    async def get(self, user_id_raw: str) -> None:
        user_id = int(user_id_raw)
        user = await admin_model.get_user(self.db, user_id)
        if user is None:
            raise PageError(404, "用户不存在")
        logins, _ = await admin_model.recent_logins(self.db, 1, 20, user_id=user_id)
        self.render("admin/user.html", user=user, houses=await admin_model.houses_of(self.db, user_id),
                    logins=logins, actions=await admin_model.actions_for(self.db, "user", user_id),
                    sessions=await self.sessions.list_for_user(user_id))


class AdminUserActiveHandler(AdminBase):
    """POST /admin/users/<id>/(disable|enable), optional ``reason``.

    Disabling revokes every session of the account, hides its listings from the
    public (models.search.PUBLIC requires an active owner) and blocks its login.
    An admin cannot disable their own account.
    """

    action = ""

    async def post(self, user_id_raw: str) -> None:
        user_id = int(user_id_raw)
        active = self.action == "enable"
        if not active and user_id == self.admin_id:
            raise PageError(409, "不能停用自己的账号")
        reason = self.reason()
        async with self.db.transaction() as tx:
            user = await admin_model.lock_user(tx, user_id)
            if user is None:
                raise PageError(404, "用户不存在")
            if bool(user["is_active"]) == active:
                raise PageError(409, "该账号已经是启用状态" if active else "该账号已经停用")
            await admin_model.set_user_active(tx, user_id, active)
            if not active:  # durable with the change: see models/revocations.py
                await revocations.revoke_all_sessions(tx, user_id)
            await admin_model.record_action(tx, self.admin_id, self.action, "user", user_id, reason)
            house_ids = await admin_model.house_ids_of(tx, user_id)
        revoked = 0 if active else await self.sessions.revoke_user(user_id, after_commit=True)
        # Their listings appear or vanish everywhere: home, searches and each listing page.
        await self.cache.invalidate_houses(house_ids)
        if active:
            self.flash(f"用户 #{user_id} 已启用")
        else:
            self.flash(f"用户 #{user_id} 已停用，注销了 {revoked} 个登录会话")
        self.back(f"/admin/users/{user_id}")


class AdminUserDisableHandler(AdminUserActiveHandler):
    """POST /admin/users/<id>/disable."""

    action = "disable"


class AdminUserEnableHandler(AdminUserActiveHandler):
    """POST /admin/users/<id>/enable."""

    action = "enable"


# -- orders -----------------------------------------------------------------------

class AdminOrdersHandler(AdminBase):
    """GET /admin/orders?status=…&from=YYYY-MM-DD&to=YYYY-MM-DD&page=N.

    Dates filter on the day the order was placed, both ends included. A bad value
    shows the page again with a message next to the field and 400.
    """

    async def get(self) -> None:
        errors: dict[str, str] = {}
        status = self.arg("status", 20)
        if status and status not in admin_model.ORDER_STATUSES:
            errors["status"] = "未知的订单状态"
        dates: dict[str, datetime.date | None] = {}
        for name in ("from", "to"):
            raw = self.arg(name, 20)
            dates[name] = None
            if raw:
                try:
                    dates[name] = datetime.date.fromisoformat(raw)
                except ValueError:
                    errors[name] = "日期格式应为 YYYY-MM-DD"
        if dates["from"] and dates["to"] and dates["to"] < dates["from"]:
            errors["to"] = "结束日期不能早于开始日期"
        form = {"status": status, "from": self.arg("from", 20), "to": self.arg("to", 20)}
        page = self.page()
        rows, total, amount = [], 0, 0
        if errors:
            self.set_status(400)
        else:
            rows, total, amount = await admin_model.list_orders(
                self.db, status=status or None, date_from=dates["from"], date_to=dates["to"],
                page=page, per_page=PER_PAGE)
        self.render("admin/orders.html", rows=rows, total=total, amount=amount, errors=errors, form=form,
                    page=page, pages=max(1, math.ceil(total / PER_PAGE)),
                    statuses=admin_model.ORDER_STATUSES)


# -- login audit ------------------------------------------------------------------

class AdminLoginsHandler(AdminBase):
    """GET /admin/logins?page=N: recent login attempts with IP and location.

    Rows without a location are resolved together through the IP locator
    (``locate_many``: cache, then the provider in parallel). Answers from the
    provider or for local addresses are written back to the rows; the offline
    country-level fallback is only shown, so the row is resolved again later.
    """

    async def get(self) -> None:
        page = self.page()
        rows, total = await admin_model.recent_logins(self.db, page, LOGINS_PER_PAGE)
        missing = sorted({r["ip"] for r in rows if not r["location"] and r["ip"]})
        locator = self.application.locator
        if missing and locator is not None:
            found = await locator.locate_many(missing)
            for row in rows:
                if not row["location"] and row["ip"] in found:
                    row["location"] = found[row["ip"]].label()
            await admin_model.store_login_locations(
                self.db, {ip: loc.label() for ip, loc in found.items() if loc.source != "offline"})
        self.render("admin/logins.html", rows=rows, total=total, page=page,
                    pages=max(1, math.ceil(total / LOGINS_PER_PAGE)))
