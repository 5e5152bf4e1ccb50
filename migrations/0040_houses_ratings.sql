-- depends: 0020_users_avatar_key
-- A listing's reviews, denormalised for cards and the rating sort: how many, the sum of their
-- ratings (1–5 each) and the average rounded to 2 decimals (0 while there are none), kept by
-- models/ratings.py in the review's own transaction.
ALTER TABLE houses
  ADD COLUMN IF NOT EXISTS rating_count INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS rating_sum INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS rating_avg DECIMAL(3,2) NOT NULL DEFAULT 0;
