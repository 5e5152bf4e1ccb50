-- depends: 0040_houses_ratings
-- The reviews written before 0040.
UPDATE houses h
  JOIN (SELECT house_id, COUNT(*) AS n, SUM(rating) AS total FROM reviews GROUP BY house_id) r ON r.house_id = h.id
  SET h.rating_count = r.n, h.rating_sum = r.total, h.rating_avg = ROUND(r.total / r.n, 2);
