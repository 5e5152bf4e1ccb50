-- depends: 0020_users_avatar_key
-- How many people stay (1..the listing's capacity at booking time) and the deposit (押金, fen):
-- a refundable hold snapshotted from houses.deposit_fen when the guest books, shown apart from
-- the price of the nights. Orders made before this migration count 1 guest and no deposit.
ALTER TABLE orders
  ADD COLUMN IF NOT EXISTS guests SMALLINT UNSIGNED NOT NULL DEFAULT 1 AFTER nights,
  ADD COLUMN IF NOT EXISTS deposit_fen INT UNSIGNED NOT NULL DEFAULT 0 AFTER amount_fen;
