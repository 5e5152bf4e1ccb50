-- depends: 0051_messages
-- Each party's place in a conversation: the last message they have read and how many
-- messages from the other side came after it (kept up to date by every write, so the
-- header's unread total is one range read of ix_reads_unread).
CREATE TABLE IF NOT EXISTS conversation_reads (
  conversation_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  last_read_message_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
  unread INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (conversation_id, user_id),
  KEY ix_reads_unread (user_id, unread),
  CONSTRAINT fk_reads_conversation FOREIGN KEY (conversation_id) REFERENCES conversations (id),
  CONSTRAINT fk_reads_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
