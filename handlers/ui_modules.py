"""UI modules: repeated markup rendered from templates/modules/."""

from __future__ import annotations

import tornado.escape
import tornado.web


class HouseCard(tornado.web.UIModule):
    """A listing card for grids: ``{% module HouseCard(card) %}``.

    *card* is a row of models.search.CARD_COLUMNS (price in fen). With
    ``show_status`` the card shows the listing's status badge (owner pages). *stay*
    (handlers.houses.card_stay: {query, nights}) makes the card link to the listing with
    the search's dates and guests and show the total for those nights.
    """

    def render(self, card: dict, show_status: bool = False, stay: dict | None = None, eager: bool = False,
               heading_level: int = 3) -> str:
        """*eager*: the card is in the first visible row (its photo loads at once, not lazily).
        *heading_level*: the title's heading element (h2..h6), so each page keeps its heading order."""
        level = min(6, max(2, int(heading_level)))
        return self.render_string("modules/house_card.html", card=card, show_status=show_status, stay=stay,
                                  eager=eager, heading_level=level)


class Picture(tornado.web.UIModule):
    """Every listing photo: ``{% module Picture(key, width=…, height=…, sizes=…, alt=…) %}``.

    Renders ``<picture>`` with a WebP ``<source>`` and a JPEG ``<img>``, both with ``srcset`` over the
    responsive widths (services/images.py WIDTHS) and *sizes* (a CSS ``sizes`` value saying how wide
    the picture is laid out, e.g. "(min-width: 992px) 33vw, 100vw"). *width*/*height* are the stored
    size in pixels (house_images.width/height); when a query does not carry them, *box* (the frame's
    aspect, e.g. (4, 3)) gives the img its proportions, so the page does not shift as pictures load.
    ``loading="lazy"`` unless *eager* (the first visible picture: ``fetchpriority="high"`` instead);
    ``decoding="async"`` always. *alt* is "" for a picture beside text that names it (cards).
    *img_class* goes on the ``<img>``.
    """

    def render(self, key: str, *, width: int | None = None, height: int | None = None,
               sizes: str = "100vw", alt: str = "", eager: bool = False, img_class: str = "",
               box: tuple[int, int] = (4, 3)) -> str:
        images = self.handler.application.images
        known = width if (width and height) else None
        webp, jpeg = images.srcset(key, "webp", known), images.srcset(key, "jpg", known)
        if known is None:
            width, height = 960, round(960 * box[1] / box[0])
        return self.render_string(
            "modules/picture.html", webp=webp, jpeg=jpeg, src=images.variant_url(key, 960, "jpg"),
            width=width, height=height, sizes=sizes, alt=alt, eager=eager, img_class=img_class)


class Strings(tornado.web.UIModule):
    """Text for a script, in the page's language: ``{% module Strings("booking", nights=_("%(n)d 晚")) %}``.

    Renders ``<script type="application/json" id="strings-booking">{…}</script>`` (a data block:
    the Content-Security-Policy runs no inline script, and a data block is not run). Scripts read
    it with ``ihomeStrings("booking")`` (static/js/site.js), so the words of a script are
    translated with the page's own catalogue, not by a second system. Values are strings;
    ``{name}`` placeholders are filled by the script (``ihomeFormat``).
    """

    def render(self, name: str, **messages: str) -> str:
        # json_encode escapes "</" so a message can never close the data block.
        return (f'<script type="application/json" id="strings-{tornado.escape.xhtml_escape(name)}">'
                f'{tornado.escape.json_encode(messages)}</script>')
