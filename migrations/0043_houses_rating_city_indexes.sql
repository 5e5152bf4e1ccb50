-- depends: 0042_houses_city
-- The rating sort and the search by city, read in index order like 0017's: each starts with
-- the public condition (status, owner_active), then the filter, then the sort column(s).
-- "ORDER BY rating_avg DESC, rating_count DESC, id DESC" is a backward read of the rating ones.
ALTER TABLE houses
  ADD KEY IF NOT EXISTS ix_houses_pub_rating (status, owner_active, rating_avg, rating_count),
  ADD KEY IF NOT EXISTS ix_houses_pub_area_rating (status, owner_active, area_id, rating_avg, rating_count),
  ADD KEY IF NOT EXISTS ix_houses_pub_city_new (status, owner_active, city_id, created_at),
  ADD KEY IF NOT EXISTS ix_houses_pub_city_booking (status, owner_active, city_id, order_count),
  ADD KEY IF NOT EXISTS ix_houses_pub_city_price (status, owner_active, city_id, price_fen),
  ADD KEY IF NOT EXISTS ix_houses_pub_city_rating (status, owner_active, city_id, rating_avg, rating_count);
