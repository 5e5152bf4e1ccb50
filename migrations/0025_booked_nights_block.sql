-- depends: 0024_house_blocks
-- A booked night belongs to an order or to a host's block, exactly one of them.
ALTER TABLE booked_nights
  MODIFY order_id BIGINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS block_id BIGINT UNSIGNED NULL,
  ADD KEY IF NOT EXISTS ix_bn_block (block_id),
  ADD CONSTRAINT fk_bn_block FOREIGN KEY IF NOT EXISTS (block_id) REFERENCES house_blocks (id) ON DELETE CASCADE,
  ADD CONSTRAINT IF NOT EXISTS ck_bn_holder CHECK ((order_id IS NULL) <> (block_id IS NULL));
