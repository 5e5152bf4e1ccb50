"""Refused forms name every problem at once, beside its field, and say so to screen readers.

For each form: a POST (GET for the admin order filter) with several bad fields answers 400 and shows
every message beside its field (modules/field_error.html, id "<field>-error"); the control carries
aria-invalid="true" and aria-describedby naming that message (and its help text, when it has one);
an error summary at the top of the form (role=alert, "请修改以下 N 处") links to each control; the
page loads static/js/forms.js, which moves focus there (tests/e2e/test_form_focus.py). Pages are read
with html.parser (tests/utils/a11y.py).
"""

from __future__ import annotations

import pytest

from tests.utils.a11y import Element, by_id, controls, described_by, label_of, parse
from tests.utils.captcha import captcha_for
from tests.utils.client import admin_client, logged_in, text
from tests.utils.dates import iso
from tests.utils.factories import house_form, make_house, make_user
from tests.utils.pages import field_errors, order_id_of
from tests.utils.booking import make_party


def assert_reported(body: str, form_id: str, expected: dict[str, str], summary_id: str = "error-summary",
                    targets: dict[str, str] | None = None) -> Element:
    """Every field of *expected* (field → part of its message) is reported in form *form_id*, and
    nothing else is; returns the parsed page."""
    root = parse(body)
    form = by_id(root, form_id)
    assert set(field_errors(body)) == set(expected), field_errors(body)
    for name, message in expected.items():
        error = by_id(root, f"{name}-error")
        assert message in error.text, (name, error.text)
        assert any(a is form for a in error.ancestors()), f"{name}'s message is outside its form"
        found = controls(form, name)
        assert found, name
        for control in found:
            assert control.attrs.get("aria-invalid") == "true", (name, control.attrs)
            assert f"{name}-error" in control.attrs.get("aria-describedby", "").split(), (name, control.attrs)
            assert any(message in t for t in described_by(root, control)), name
            assert "is-invalid" in control.classes(), name
    summary = by_id(root, summary_id)
    assert any(a is form for a in summary.ancestors())
    assert summary.attrs.get("role") == "alert" and "data-error-summary" in summary.attrs
    assert summary.attrs.get("tabindex") == "-1"
    assert f"请修改以下 {len(expected)} 处" in summary.text
    links = summary.find_all("a")
    assert len(links) == len(expected)
    for name, message in expected.items():
        target = (targets or {}).get(name, name)
        link = next(a for a in links if a.attrs["href"] == f"#{target}")
        assert message in link.text and link.attrs["data-focus"] == target
        assert by_id(root, target).attrs.get("name") == name
    assert "/static/js/forms.js" in body
    assert "novalidate" in form.attrs
    return root


# -- sign-up and login ---------------------------------------------------------------

@pytest.mark.gen_test
async def test_register_reports_every_field(client, app):
    captcha_id, _ = await captcha_for(client, app)
    response = await client.post("/register", {"mobile": "12", "name": "1", "password": "short",
                                               "password2": "other", "captcha_id": captcha_id,
                                               "captcha": "zzzz"})
    assert response.code == 400
    root = assert_reported(text(response), "register-form", {
        "mobile": "11 位", "name": "名字长度", "password": "密码长度", "captcha": "验证码"})
    # The help text is read with the field, the message as well.
    described = by_id(root, "password").attrs["aria-describedby"].split()
    assert described == ["password-error", "password-help"] and "8–64" in by_id(root, "password-help").text


@pytest.mark.gen_test
async def test_register_names_a_taken_mobile_and_a_taken_name_together(client, app):
    someone = await make_user(app, name="已有的名字")
    captcha_id, answer = await captcha_for(client, app)
    response = await client.post("/register", {"mobile": someone["mobile"], "name": "已有的名字",
                                               "password": "Good#pass2025", "password2": "Good#pass2025",
                                               "captcha_id": captcha_id, "captcha": answer})
    assert response.code == 400
    assert_reported(text(response), "register-form", {"mobile": "已注册", "name": "已被其他用户使用"})


@pytest.mark.gen_test
async def test_register_form_without_errors_has_no_invalid_marks(client):
    body = text(await client.get("/register"))
    root = parse(body)
    assert 'aria-invalid' not in body and "error-summary" not in body and "js/forms.js" not in body
    # help texts are named even before anything is wrong
    assert by_id(root, "name").attrs["aria-describedby"] == "name-help"


@pytest.mark.gen_test
async def test_login_names_both_empty_fields(client):
    response = await client.post("/login", {"mobile": "", "password": ""})
    assert response.code == 400
    assert_reported(text(response), "login-form", {"mobile": "11 位", "password": "请输入密码"})


@pytest.mark.gen_test
async def test_a_wrong_password_is_one_message_for_the_form(client, app):
    user = await make_user(app)
    response = await client.post("/login", {"mobile": user["mobile"], "password": "Wrong#pass2025"})
    assert response.code == 400
    root = parse(text(response))
    alert = by_id(root, "form-error")
    assert alert.text == "手机号或密码错误" and alert.attrs["role"] == "alert" and alert.attrs["tabindex"] == "-1"
    assert "aria-invalid" not in text(response)  # which of the two is wrong is not told
    assert "/static/js/forms.js" in text(response)


# -- profile -----------------------------------------------------------------------

@pytest.fixture
def user_client(app, client, login, io_loop):
    return io_loop.run_sync(lambda: logged_in(client, app, login))


@pytest.mark.gen_test
async def test_password_change_reports_both_fields(user_client):
    client, _ = user_client
    response = await client.post("/profile/password", {"old_password": "", "new_password": "short",
                                                        "new_password2": "short"})
    assert response.code == 400
    root = assert_reported(text(response), "password-form", {"old_password": "请输入当前密码", "new_password": "密码长度"},
                           summary_id="password-errors")
    # the other forms on the page stay quiet
    assert by_id(root, "name").attrs.get("aria-invalid") is None
    assert not parse(text(response)).find_all(id="name-errors")


@pytest.mark.gen_test
async def test_name_and_avatar_messages_sit_in_their_own_form(user_client):
    client, _ = user_client
    response = await client.post("/profile", {"name": "x"})
    assert response.code == 400
    assert_reported(text(response), "name-form", {"name": "名字长度"}, summary_id="name-errors")
    response = await client.post("/profile/avatar", {})
    assert response.code == 400
    assert_reported(text(response), "avatar-form", {"avatar": "请选择"}, summary_id="avatar-errors")


@pytest.mark.gen_test
async def test_real_name_form_reports_both_fields(app, client, login):
    client, _ = await logged_in(client, app, login, verified=False)
    response = await client.post("/profile/auth", {"real_name": "李", "id_card": "123"})
    assert response.code == 400
    root = assert_reported(text(response), "auth-form", {"real_name": "姓名", "id_card": "18 位"})
    assert by_id(root, "id_card").attrs["aria-describedby"].split() == ["id_card-error", "id_card-help"]


# -- listings ----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_publish_reports_every_bad_field(app, client, login):
    client, _ = await logged_in(client, app, login)
    form = list(house_form(title="", price="abc", area_id="", capacity="0", max_days="x").items())
    response = await client.post("/houses/new", form + [("facility", "999")])
    assert response.code == 400
    root = assert_reported(text(response), "house-form", {
        "title": "标题", "price": "每晚价格", "area_id": "请选择所在区域", "capacity": "可住人数",
        "max_days": "最多入住天数", "facility": "设施"},
        summary_id="house-form-errors", targets={"facility": "f1"})
    # every facility checkbox is marked, inside a fieldset named by its legend
    boxes = controls(root, "facility")
    assert len(boxes) > 1 and all(b.attrs.get("aria-invalid") == "true" for b in boxes)
    fieldset = next(a for a in boxes[0].ancestors() if a.tag == "fieldset")
    assert fieldset.find_all("legend")[0].text == "配套设施"
    # the address keeps its help text, and is not marked
    address = by_id(root, "address").attrs
    assert address["aria-describedby"] == "address-help" and "aria-invalid" not in address


@pytest.mark.gen_test
async def test_block_form_reports_both_dates(app, client, login):
    client, owner = await logged_in(client, app, login)
    house = await make_house(app, owner)
    response = await client.post(f"/houses/{house['id']}/calendar/block", {"sd": "", "ed": "2026-13-40"})
    assert response.code == 400
    root = assert_reported(text(response), "block-form", {"sd": "请选择开始日期", "ed": "YYYY-MM-DD"},
                           summary_id="block-form-errors", targets={"sd": "block-sd", "ed": "block-ed"})
    assert not root.find_all(id="house-form-errors")  # the listing form above is fine


# -- orders --------------------------------------------------------------------------

async def completed_order(app, login, new_client):
    p = await make_party(app, login, new_client)
    order_id = order_id_of(await p.book(0, 1))
    assert (await p.lc.post(f"/orders/{order_id}/accept")).code == 302
    await app.db.execute("UPDATE orders SET check_in = %s, check_out = %s WHERE id = %s", iso(-3), iso(-1), order_id)
    return p, order_id


@pytest.mark.gen_test(timeout=30)
async def test_review_reports_rating_and_comment(app, login, new_client):
    p, order_id = await completed_order(app, login, new_client)
    response = await p.gc.post(f"/orders/{order_id}/review", {"rating": "9", "comment": ""})
    assert response.code == 400
    assert_reported(text(response), "review-form", {"rating": "请选择 1–5 星评分", "comment": "评价内容须为"},
                    summary_id="review-errors", targets={"rating": "rating5"})
    assert await app.db.scalar("SELECT COUNT(*) FROM reviews") == 0


@pytest.mark.gen_test(timeout=30)
async def test_rating_radios_are_named_in_words(app, login, new_client):
    p, order_id = await completed_order(app, login, new_client)
    root = parse(text(await p.gc.get(f"/orders/{order_id}")))
    radios = controls(by_id(root, "review-form"), "rating")
    assert [r.attrs["value"] for r in radios] == ["5", "4", "3", "2", "1"]
    assert [label_of(root, r) for r in radios] == ["5 星", "4 星", "3 星", "2 星", "1 星"]
    assert all(r.attrs["type"] == "radio" for r in radios)  # native radios: arrow keys move, Space picks
    fieldset = next(a for a in radios[0].ancestors() if a.tag == "fieldset")
    assert all(fieldset in list(r.ancestors()) for r in radios)
    assert fieldset.find_all("legend")[0].text == "评分"
    # the stars are drawn, not read
    label = root.find_all("label", **{"for": "rating3"})[0]
    assert "★★★" in label.text and "★" not in label.spoken


@pytest.mark.gen_test(timeout=30)
async def test_reject_reason_is_reported_beside_its_field(app, login, new_client):
    p = await make_party(app, login, new_client)
    order_id = order_id_of(await p.book(2, 3))
    response = await p.lc.post(f"/orders/{order_id}/reject", {"reason": ""})
    assert response.code == 400
    assert_reported(text(response), "reject-form", {"reason": "请填写拒绝原因"}, summary_id="reject-errors")


# -- admin -----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_admin_order_filter_reports_every_field(app, new_client, login):
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.get("/admin/orders?status=nope&from=2026-02-30&to=bad")
    assert response.code == 400
    assert_reported(text(response), "order-filters", {
        "status": "未知的订单状态", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"})


@pytest.mark.gen_test(timeout=30)
async def test_admin_reject_reason_is_reported_beside_its_field(app, new_client, login):
    owner = await make_user(app)
    house = await make_house(app, owner, status="pending")
    admin, _ = await admin_client(app, new_client, login)
    response = await admin.post(f"/admin/houses/{house['id']}/reject", {"reason": " "})
    assert response.code == 400
    assert_reported(text(response), "reject-form", {"reason": "驳回理由"}, summary_id="reject-errors",
                    targets={"reason": "reject-reason"})
