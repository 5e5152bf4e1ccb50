-- depends: 0052_conversation_reads
-- 收藏: the listings a member saved. One row per (member, listing); a listing's count of savers is a
-- COUNT on ix_favourites_house (no counter on houses: saving never touches the listing's row, which
-- bookings lock). ix_favourites_user_new serves "my favourites, newest first" in index order.
-- Rows go with the member or the listing when either is removed for good (soft-deleted listings stay:
-- their savers see them greyed out and can remove them).
CREATE TABLE IF NOT EXISTS favourites (
  user_id BIGINT UNSIGNED NOT NULL,
  house_id BIGINT UNSIGNED NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (user_id, house_id),
  KEY ix_favourites_house (house_id),
  KEY ix_favourites_user_new (user_id, created_at),
  CONSTRAINT fk_favourites_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_favourites_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
