-- depends: 0052_conversation_reads
-- 日历同步: a listing's external iCal feeds (another platform's export), 3 at most per listing
-- (checked by the model under the listing's lock). last_status is NULL until the first sync, then
-- 'ok' or 'error'; last_error is a short code (services/safe_fetch.py, services/ical.py kinds);
-- clashes is a JSON list of {"night": "YYYY-MM-DD", "by": "order"|"host"|"feed"} — nights the
-- feed holds that were already taken here, shown to the host (never dropped silently).
CREATE TABLE IF NOT EXISTS calendar_feeds (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  house_id BIGINT UNSIGNED NOT NULL,
  url VARCHAR(1000) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_sync_at DATETIME NULL,
  last_status VARCHAR(8) NULL,
  last_error VARCHAR(300) NULL,
  last_event_count INT UNSIGNED NULL,
  last_night_count INT UNSIGNED NULL,
  clashes TEXT NULL,
  KEY ix_cf_house (house_id),
  KEY ix_cf_sync (last_sync_at),
  CONSTRAINT fk_cf_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE,
  CONSTRAINT ck_cf_status CHECK (last_status IS NULL OR last_status IN ('ok', 'error'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
