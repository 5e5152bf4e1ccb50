"""UI modules: repeated markup rendered from templates/modules/."""

from __future__ import annotations

import tornado.web


class HouseCard(tornado.web.UIModule):
    """A listing card for grids: ``{% module HouseCard(card) %}``.

    *card* is a row of models.search.CARD_COLUMNS (price in fen). With
    ``show_status`` the card shows the listing's status badge (owner pages).
    """

    def render(self, card: dict, show_status: bool = False) -> str:
        return self.render_string("modules/house_card.html", card=card, show_status=show_status)
