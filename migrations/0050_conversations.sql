-- depends: 0020_users_avatar_key
-- One conversation per (listing, guest): the guest and the listing's host talk in it.
-- last_message_id orders the inbox (message ids only grow); NULL until the first message.
CREATE TABLE IF NOT EXISTS conversations (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  house_id BIGINT UNSIGNED NOT NULL,
  guest_id BIGINT UNSIGNED NOT NULL,
  host_id BIGINT UNSIGNED NOT NULL,
  last_message_id BIGINT UNSIGNED NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY ux_conversations_house_guest (house_id, guest_id),
  KEY ix_conversations_guest (guest_id, last_message_id),
  KEY ix_conversations_host (host_id, last_message_id),
  CONSTRAINT fk_conversations_house FOREIGN KEY (house_id) REFERENCES houses (id),
  CONSTRAINT fk_conversations_guest FOREIGN KEY (guest_id) REFERENCES users (id),
  CONSTRAINT fk_conversations_host FOREIGN KEY (host_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
