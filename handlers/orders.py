"""Bookings and orders: book a stay, the order page, "my orders", the order actions,
and the listing page's booking form, availability calendar and reviews.

Dates are the server's local calendar days (``datetime.date.today()``), the same
clock the search form uses. Stays are half-open ``[check_in, check_out)``.
"""

from __future__ import annotations

import calendar
import datetime

import tornado.web

from handlers.base import BaseHandler, PageError, page_number, safe_next
from handlers.houses import HouseDetailHandler
from models import orders, reviews
from services.house_form import fen_to_yuan

PER_PAGE = 20
MAX_PAGE = 500
CALENDAR_MONTHS = 3
COMMENT_MAX = 500
REASON_MAX = 255  # orders.reject_reason is VARCHAR(255)
ROLES = {"guest": "我的预订", "landlord": "客户订单"}
FLASHES = {"accept": "已接单，房客会看到订单已确认", "reject": "已拒绝该订单，日期已重新开放",
           "cancel": "订单已取消，日期已释放", "review": "感谢你的评价！"}


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The first day of the month *months* after *day*'s month."""
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def calendar_months(first: datetime.date, count: int, booked: set[datetime.date],
                    today: datetime.date) -> list[dict]:
    """*count* months from *first*'s month, for templates/houses/calendar.html.

    Each month is {"key": "YYYY-MM", "title": "2025年5月", "weeks": [[day or None] × 7]}
    with weeks starting on Monday; a day is {"day": 12, "date": "YYYY-MM-DD",
    "state": "past" | "booked" | "free"}.
    """
    months = []
    cal = calendar.Calendar(firstweekday=0)
    for i in range(count):
        start = add_months(first, i)
        weeks = []
        for week in cal.monthdatescalendar(start.year, start.month):
            cells = []
            for day in week:
                if day.month != start.month:
                    cells.append(None)
                    continue
                state = "booked" if day in booked else "past" if day < today else "free"
                cells.append({"day": day.day, "date": day.isoformat(), "state": state})
            weeks.append(cells)
        months.append({"key": f"{start.year:04d}-{start.month:02d}",
                       "title": f"{start.year}年{start.month}月", "weeks": weeks})
    return months


def public_name(name: str) -> str:
    """A user's name as strangers see it: a name that is still the mobile number
    (the default at sign-up) shows as 139****0001."""
    if len(name) == 11 and name.isdigit():
        return f"{name[:3]}****{name[7:]}"
    return name


async def listing_extra(handler: HouseDetailHandler, house: dict) -> dict:
    """The listing page's booking parts for HouseDetailHandler.detail_extra.

    Sidebar: the booking form (with the handler's ``booking_form`` / ``booking_errors``
    after a refused booking). Sections: the availability calendar of this month and
    the next two, and the reviews with their average rating. Read per request: the
    rows are small, indexed look-ups and must be exact right after a booking.
    """
    today = datetime.date.today()
    first = today.replace(day=1)
    booked = set(await orders.booked_nights(handler.db, house["id"], first, add_months(first, CALENDAR_MONTHS)))
    user = handler.current_user
    if user and user.id == house["owner_id"]:
        blocker = "这是你自己的房源，不能预订"
    elif house["status"] != "online" or not house.get("owner_active", 1):
        blocker = "该房源当前未上线，暂不接受预订"
    else:
        blocker = None
    return {
        "sidebar": [("houses/booking_sidebar.html", {
            "booking": handler.booking_form, "booking_errors": handler.booking_errors,
            "blocker": blocker, "today": today.isoformat()})],
        "sections": [
            ("houses/calendar.html", {"months": calendar_months(first, CALENDAR_MONTHS, booked, today)}),
            ("houses/reviews.html", {"reviews": await reviews.for_house(handler.db, house["id"]),
                                     "summary": await reviews.summary(handler.db, house["id"]),
                                     "public_name": public_name}),
        ],
    }


def parse_day(raw: str, field: str, missing: str) -> datetime.date:
    """A YYYY-MM-DD form value; raises BookingRefused (400) naming *field*."""
    if not raw:
        raise orders.BookingRefused(400, missing, field)
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise orders.BookingRefused(400, "日期格式应为 YYYY-MM-DD", field) from None


class BookHandler(HouseDetailHandler):
    """POST /houses/<id>/book (``sd``, ``ed`` as YYYY-MM-DD) → 302 to /orders/<order_id>.

    A refused booking gets a 4xx: a date problem shows the listing page again with
    the message next to the booking form; any other rule (not logged in, listing
    offline, own listing) gets the error page with its message.
    """

    async def post(self, house_id: str) -> None:
        if not self.current_user:
            raise PageError(403, "请先登录再预订")
        sd, ed = self.arg("sd", 20), self.arg("ed", 20)
        try:
            check_in = parse_day(sd, "sd", "请选择入住日期")
            check_out = parse_day(ed, "ed", "请选择离开日期")
            booked = await orders.book(self.db, self.current_user.id, int(house_id), check_in, check_out,
                                       datetime.date.today())
        except orders.BookingRefused as exc:
            if exc.field is None:
                raise PageError(exc.status, exc.message)
            self.booking_form = {"sd": sd, "ed": ed}
            self.booking_errors = {exc.field: exc.message}
            self.set_status(exc.status)
            await self.get(house_id)
            return
        # A booking changes only which nights are free: dated searches, not the card or page.
        await self.cache.invalidate_availability(int(house_id))
        self.flash(f"预订已提交：{booked.nights} 晚，共 ¥{fen_to_yuan(booked.amount_fen)}，等待房东确认")
        self.redirect(f"/orders/{booked.order_id}")


class OrderBase(BaseHandler):
    """Shared by the order pages: finding an order the current user is a party to."""

    async def party_order(self, order_id: int) -> tuple[dict, str]:
        """(order, "guest" | "landlord") for the current user; 404 for anyone else,
        so strangers cannot tell which order ids exist."""
        order = await orders.get(self.db, order_id)
        role = order and orders.role_of(order, self.current_user.id)
        if not role:
            raise PageError(404, "订单不存在")
        return order, role

    def render_order(self, order: dict, role: str, *, status: int = 200, errors: dict | None = None,
                     form: dict | None = None) -> None:
        """The order page for *role* ("guest" | "landlord") with *status*, per-field *errors*
        and the fields as typed in *form* (after a refused action)."""
        self.set_status(status)
        today = datetime.date.today()
        self.render("orders/detail.html", order=order, role=role, errors=errors or {}, form=form or {},
                    actions=orders.allowed_actions(order, self.current_user.id, today),
                    public_name=public_name)


class OrderHandler(OrderBase):
    """GET /orders/<id>: the order, to its guest and its landlord only."""

    @tornado.web.authenticated
    async def get(self, order_id: str) -> None:
        order, role = await self.party_order(int(order_id))
        self.render_order(order, role)


class OrderActionHandler(OrderBase):
    """POST /orders/<id>/<action>: accept, reject (``reason``), cancel, review (``rating``, ``comment``).

    Only the landlord may accept or reject and only the guest may cancel or review
    (403 for the other party, 404 for strangers); an action that does not fit the
    status is a 409 with the reason; missing or bad fields show the order page again
    with the message next to the field (400). Redirects to ``next`` (a local path)
    or the order page.
    """

    async def post(self, order_id: str, action: str) -> None:
        if not self.current_user:
            raise PageError(403, "请先登录")
        order, role = await self.party_order(int(order_id))
        if action in orders.LANDLORD_ACTIONS and role != "landlord":
            raise PageError(403, "只有房东可以接单或拒绝订单")
        if action in orders.GUEST_ACTIONS and role != "guest":
            raise PageError(403, "只有房客本人可以取消或评价订单")
        today = datetime.date.today()
        # The status is checked before the fields: a form for an action that no
        # longer applies should say so, not ask for a better reason.
        conflict = orders.refusal(order, action, today)
        if conflict:
            raise PageError(409, conflict)
        errors: dict[str, str] = {}
        form: dict[str, str] = {}
        try:
            if action == "accept":
                await orders.accept(self.db, order["id"], today)
            elif action == "cancel":
                await orders.cancel(self.db, order["id"], today)
            elif action == "reject":
                reason = form["reason"] = self.arg("reason", 2000)
                if not reason:
                    errors["reason"] = "请填写拒绝原因，房客会看到它"
                elif len(reason) > REASON_MAX:
                    errors["reason"] = f"拒绝原因最多 {REASON_MAX} 个字"
                else:
                    await orders.reject(self.db, order["id"], reason, today)
            else:
                rating, comment = self.arg("rating", 10), self.arg("comment", 5000)
                form.update(rating=rating, comment=comment)
                if rating not in ("1", "2", "3", "4", "5"):
                    errors["rating"] = "请选择 1–5 星评分"
                if not 1 <= len(comment) <= COMMENT_MAX:
                    errors["comment"] = f"评价内容须为 1–{COMMENT_MAX} 个字"
                if not errors:
                    await orders.review(self.db, order["id"], int(rating), comment, today)
        except orders.OrderConflict as exc:
            raise PageError(409, exc.message)
        except orders.OrderNotFound:
            raise PageError(404, "订单不存在")
        if errors:
            self.render_order(order, role, status=400, errors=errors, form=form)
            return
        if action == "review":  # the rating and the completed-stay count show on cards and the page
            await self.cache.invalidate_house(order["house_id"])
        elif action in ("cancel", "reject"):  # nights freed: only dated searches change
            await self.cache.invalidate_availability(order["house_id"])
        # accepting keeps the same nights booked: nothing cached changes
        self.flash(FLASHES[action])
        self.redirect(safe_next(self.get_argument("next", None), f"/orders/{order['id']}"))


class MyOrdersHandler(BaseHandler):
    """GET /my/orders?role=guest|landlord&page=N: the user's bookings (guest) or the
    bookings of their listings (landlord), with status badges and the actions that apply."""

    @tornado.web.authenticated
    async def get(self) -> None:
        role = self.arg("role", 20) or "guest"
        if role not in ROLES:
            raise PageError(400, "role 只能是 guest（我的预订）或 landlord（客户订单）")
        page = page_number(self.arg("page", 10), MAX_PAGE)
        user_id = self.current_user.id
        rows, total = await orders.for_user(self.db, user_id, role, PER_PAGE, (page - 1) * PER_PAGE)
        today = datetime.date.today()
        for row in rows:
            row["actions"] = orders.allowed_actions(row, user_id, today)
        self.render("orders/my.html", rows=rows, role=role, roles=ROLES, page=page, total=total,
                    pages=max(1, -(-total // PER_PAGE)), public_name=public_name)
