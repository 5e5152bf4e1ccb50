"""UI modules: repeated markup rendered from templates/modules/."""

from __future__ import annotations

import tornado.web


class HouseCard(tornado.web.UIModule):
    """A listing card for grids: ``{% module HouseCard(card) %}``.

    *card* is a row of models.search.CARD_COLUMNS (price in fen). With
    ``show_status`` the card shows the listing's status badge (owner pages). *stay*
    (handlers.houses.card_stay: {query, nights}) makes the card link to the listing with
    the search's dates and guests and show the total for those nights.
    """

    def render(self, card: dict, show_status: bool = False, stay: dict | None = None) -> str:
        return self.render_string("modules/house_card.html", card=card, show_status=show_status, stay=stay)
