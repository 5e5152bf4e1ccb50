"""What a stay costs: the one price breakdown every page shows (booking card, order, my orders).

All amounts are integer fen. The deposit (押金) is a refundable hold the host takes at check-in:
it is part of what the guest must have ready (``total_fen``), never part of the price of the
nights (``subtotal_fen``), and it is shown on its own line, never folded into the price.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Breakdown:
    """One stay's money, in fen: nights × price_fen = subtotal_fen; + deposit_fen = total_fen."""

    nights: int
    price_fen: int
    subtotal_fen: int
    deposit_fen: int
    total_fen: int


def breakdown(price_fen: int, nights: int, deposit_fen: int = 0) -> Breakdown:
    """The breakdown of *nights* nights at *price_fen* a night with a *deposit_fen* hold.

    Raises ValueError for a negative amount or fewer than one night.
    """
    if nights < 1:
        raise ValueError(f"a stay has at least one night, got {nights}")
    if price_fen < 0 or deposit_fen < 0:
        raise ValueError("amounts in fen cannot be negative")
    subtotal = price_fen * nights
    return Breakdown(nights=nights, price_fen=price_fen, subtotal_fen=subtotal, deposit_fen=deposit_fen,
                     total_fen=subtotal + deposit_fen)
