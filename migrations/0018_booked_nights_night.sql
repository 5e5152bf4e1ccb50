-- depends: 0008_booked_nights
-- "Which listings are booked on these nights": a range on night gives the house ids,
-- for the date search's anti-join.
ALTER TABLE booked_nights ADD KEY IF NOT EXISTS ix_bn_night (night, house_id);
