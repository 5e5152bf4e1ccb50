"""Order pages: the order, "my orders", and the order actions (accept, reject, release, cancel, review).

Times are the server's local clock (``datetime.datetime.now()``), the clock the search
form's dates are read on; check-in, check-out, the free-cancellation deadline and the
review window are models/lifecycle.py's. Stays are half-open ``[check_in, check_out)``.
"""

from __future__ import annotations

import datetime

import tornado.web

from handlers.base import BaseHandler, PageError, page_number, safe_next
from handlers.display import public_name
from models import lifecycle, orders
from services.pricing import breakdown

PER_PAGE = 20
MAX_PAGE = 500
COMMENT_MAX = 500
REASON_MAX = 255  # orders.reject_reason is VARCHAR(255)
ROLES = {"guest": "我的预订", "landlord": "客户订单"}
FLASHES = {"accept": "已接单，房客会看到订单已确认", "reject": "已拒绝该订单，日期已重新开放",
           "release": "已取消这次入住，日期已重新开放", "cancel": "订单已取消，日期已释放",
           "review": "感谢你的评价！"}


def order_view(order: dict, free_cancel_hours: int) -> dict:
    """*order* with what its pages show about money and time: ``money`` (services/pricing.py's
    Breakdown), ``cancel_deadline``, ``check_in_at``, ``check_out_at`` (datetimes) and
    ``review_window`` (models/lifecycle.py)."""
    order["money"] = breakdown(order["price_fen"], order["nights"], order["deposit_fen"])
    order["cancel_deadline"] = lifecycle.cancel_deadline(order["check_in"], free_cancel_hours)
    order["check_in_at"] = lifecycle.check_in_at(order["check_in"])
    order["check_out_at"] = lifecycle.check_out_at(order["check_out"])
    order["review_window"] = lifecycle.review_window(order["check_out"])
    return order


class OrderBase(BaseHandler):
    """Shared by the order pages: finding an order the current user is a party to."""

    def now(self) -> datetime.datetime:
        """The local time the order rules are checked at."""
        return datetime.datetime.now()

    async def party_order(self, order_id: int) -> tuple[dict, str]:
        """(order, "guest" | "landlord") for the current user; 404 for anyone else,
        so strangers cannot tell which order ids exist."""
        order = await orders.get(self.db, order_id, self.now())
        role = order and orders.role_of(order, self.current_user.id)
        if not role:
            raise PageError(404, "订单不存在")
        return order, role

    def render_order(self, order: dict, role: str, *, status: int = 200, errors: dict | None = None,
                     form: dict | None = None) -> None:
        """The order page for *role* ("guest" | "landlord") with *status*, per-field *errors*
        and the fields as typed in *form* (after a refused action)."""
        self.set_status(status)
        hours = self.config.free_cancel_hours
        self.render("orders/detail.html", order=order_view(order, hours), role=role, errors=errors or {},
                    form=form or {}, actions=orders.allowed_actions(order, self.current_user.id, self.now(), hours),
                    public_name=public_name, free_cancel_hours=hours)


class OrderHandler(OrderBase):
    """GET /orders/<id>: the order, to its guest and its landlord only."""

    @tornado.web.authenticated
    async def get(self, order_id: str) -> None:
        order, role = await self.party_order(int(order_id))
        self.render_order(order, role)


class OrderActionHandler(OrderBase):
    """POST /orders/<id>/<action>: accept, reject (``reason``), release, cancel, review (``rating``, ``comment``).

    Only the landlord may accept, reject or release and only the guest may cancel or review
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
            raise PageError(403, "只有房东可以接单、拒绝或释放订单")
        if action in orders.GUEST_ACTIONS and role != "guest":
            raise PageError(403, "只有房客本人可以取消或评价订单")
        now, hours = self.now(), self.config.free_cancel_hours
        # The status is checked before the fields: a form for an action that no
        # longer applies should say so, not ask for a better reason.
        conflict = orders.refusal(order, action, now, hours)
        if conflict:
            raise PageError(409, conflict)
        errors: dict[str, str] = {}
        form: dict[str, str] = {}
        try:
            if action == "accept":
                await orders.accept(self.db, order["id"], now)
            elif action == "release":
                await orders.release(self.db, order["id"], now)
            elif action == "cancel":
                await orders.cancel(self.db, order["id"], now, hours)
            elif action == "reject":
                reason = form["reason"] = self.arg("reason", 2000)
                if not reason:
                    errors["reason"] = "请填写拒绝原因，房客会看到它"
                elif len(reason) > REASON_MAX:
                    errors["reason"] = f"拒绝原因最多 {REASON_MAX} 个字"
                else:
                    await orders.reject(self.db, order["id"], reason, now)
            else:
                rating, comment = self.arg("rating", 10), self.arg("comment", 5000)
                form.update(rating=rating, comment=comment)
                if rating not in ("1", "2", "3", "4", "5"):
                    errors["rating"] = "请选择 1–5 星评分"
                if not 1 <= len(comment) <= COMMENT_MAX:
                    errors["comment"] = f"评价内容须为 1–{COMMENT_MAX} 个字"
                if not errors:
                    await orders.review(self.db, order["id"], int(rating), comment, now)
        except orders.OrderConflict as exc:
            raise PageError(409, exc.message)
        except orders.OrderNotFound:
            raise PageError(404, "订单不存在")
        if errors:
            self.render_order(order, role, status=400, errors=errors, form=form)
            return
        if action == "review":  # the rating and the completed-stay count show on cards and the page
            await self.cache.invalidate_house(order["house_id"])
        elif action in ("cancel", "reject", "release"):  # nights freed: only dated searches change
            await self.cache.invalidate_availability(order["house_id"])
        # accepting keeps the same nights booked: nothing cached changes
        await self.application.announce_order(order["id"])  # the thread's system message, live
        self.flash(FLASHES[action])
        self.redirect(safe_next(self.get_argument("next", None), f"/orders/{order['id']}"))


class MyOrdersHandler(OrderBase):
    """GET /my/orders?role=guest|landlord&page=N: the user's bookings (guest) or the
    bookings of their listings (landlord), with status badges and the actions that apply."""

    @tornado.web.authenticated
    async def get(self) -> None:
        role = self.arg("role", 20) or "guest"
        if role not in ROLES:
            raise PageError(400, "role 只能是 guest（我的预订）或 landlord（客户订单）")
        page = page_number(self.arg("page", 10), MAX_PAGE)
        user_id = self.current_user.id
        now, hours = self.now(), self.config.free_cancel_hours
        rows, total = await orders.for_user(self.db, user_id, role, PER_PAGE, (page - 1) * PER_PAGE, now)
        for row in rows:
            row["actions"] = orders.allowed_actions(row, user_id, now, hours)
            order_view(row, hours)
        self.render("orders/my.html", rows=rows, role=role, roles=ROLES, page=page, total=total,
                    pages=max(1, -(-total // PER_PAGE)), public_name=public_name)
