-- depends: 0081_house_blocks_feed
-- The secret of a listing's exported feed (/houses/<id>/calendar.ics?token=…): a random token,
-- one per listing, replaced when the host resets the link (the old URL answers 404 at once).
CREATE TABLE IF NOT EXISTS calendar_exports (
  house_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  token VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_ce_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
