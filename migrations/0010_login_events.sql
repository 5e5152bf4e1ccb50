-- depends: 0009_reviews
-- Every login attempt; user_id is NULL when the mobile matched no account.
CREATE TABLE IF NOT EXISTS login_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NULL,
  mobile CHAR(11) NULL,
  ip VARCHAR(45) NOT NULL,
  location VARCHAR(128) NULL,
  user_agent VARCHAR(255) NOT NULL DEFAULT '',
  success TINYINT(1) NOT NULL,
  is_admin_login TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY ix_le_user (user_id, created_at),
  KEY ix_le_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
