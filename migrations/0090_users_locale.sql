-- depends: 0052_conversation_reads
-- The language a member chose with the switcher (services/i18n.py: zh_CN, en_US);
-- NULL until they choose, and then the cookie and the browser decide.
ALTER TABLE users ADD COLUMN IF NOT EXISTS locale VARCHAR(8) NULL DEFAULT NULL;
