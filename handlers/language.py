"""POST /locale: the language switcher of the header and footer.

Form fields: ``locale`` (a code of the configured languages, e.g. ``en_US``) and ``next``
(the local page to go back to). Sets the ``locale`` cookie (a year) and, for a logged-in
visitor, saves the choice on the account (``users.locale``) so that it follows them to
other browsers; their sessions reload the user snapshot (BaseHandler.prepare marks every
POST as a change). XSRF-protected like every form.
"""

from __future__ import annotations

import logging

from handlers.base import BaseHandler, PageError, dependency_down, safe_next
from models import users
from services import i18n

log = logging.getLogger("ihome.language")

COOKIE_DAYS = 365


class LocaleHandler(BaseHandler):
    """Switch the language; 400 for a language the site does not offer."""

    async def post(self) -> None:
        code = self.arg("locale", max_length=16)
        if code not in self.config.locales:
            raise PageError(400, self.locale.translate("不支持这种语言"))
        self.set_cookie(i18n.COOKIE, code, expires_days=COOKIE_DAYS, samesite="Lax", httponly=True, path="/")
        if self.current_user is not None:
            try:
                await users.set_locale(self.db, self.current_user.id, code)
            except Exception as exc:
                if not dependency_down(exc):
                    raise
                # The cookie already carries the choice for this browser: saving it on the
                # account can wait for the next switch rather than fail the request.
                log.warning("language of user %s not saved: %s", self.current_user.id, exc)
        self.redirect(safe_next(self.get_argument("next", None)))
