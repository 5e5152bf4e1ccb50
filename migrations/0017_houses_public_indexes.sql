-- depends: 0016_houses_owner_active_backfill
-- One index per (filter, sort) of the public pages, each starting with the public
-- condition (status = 'online' AND owner_active = 1) so a page is read in index order,
-- 12 rows at a time, without a temporary table or filesort. InnoDB appends the primary
-- key, so "ORDER BY created_at DESC, id DESC" is index order too.
ALTER TABLE houses
  ADD KEY IF NOT EXISTS ix_houses_pub_new (status, owner_active, created_at),
  ADD KEY IF NOT EXISTS ix_houses_pub_area_new (status, owner_active, area_id, created_at),
  ADD KEY IF NOT EXISTS ix_houses_pub_booking (status, owner_active, order_count),
  ADD KEY IF NOT EXISTS ix_houses_pub_area_booking (status, owner_active, area_id, order_count),
  ADD KEY IF NOT EXISTS ix_houses_pub_price (status, owner_active, price_fen),
  ADD KEY IF NOT EXISTS ix_houses_pub_area_price (status, owner_active, area_id, price_fen);
