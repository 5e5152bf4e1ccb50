-- depends: 0050_conversations
-- A message is written here before it is delivered anywhere. kind 'text': sender_id wrote body
-- (1–2,000 characters); kind 'system': an order event, sender_id NULL, actor_id the party whose
-- action it records, body a small JSON object ({"event": …, …}) that the pages put into words.
CREATE TABLE IF NOT EXISTS messages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  conversation_id BIGINT UNSIGNED NOT NULL,
  sender_id BIGINT UNSIGNED NULL,
  actor_id BIGINT UNSIGNED NULL,
  kind ENUM('text','system') NOT NULL DEFAULT 'text',
  body VARCHAR(4000) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY ix_messages_conversation (conversation_id, id),
  CONSTRAINT fk_messages_conversation FOREIGN KEY (conversation_id) REFERENCES conversations (id),
  CONSTRAINT fk_messages_sender FOREIGN KEY (sender_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
