-- depends: 0080_calendar_feeds
-- A block imported from an external feed carries the feed (NULL = the host's own block). A sync
-- replaces only its feed's blocks; the host's blocks and guests' orders are never touched by it.
ALTER TABLE house_blocks
  ADD COLUMN IF NOT EXISTS feed_id BIGINT UNSIGNED NULL,
  ADD KEY IF NOT EXISTS ix_hb_feed (feed_id),
  ADD CONSTRAINT fk_hb_feed FOREIGN KEY IF NOT EXISTS (feed_id) REFERENCES calendar_feeds (id) ON DELETE CASCADE;
