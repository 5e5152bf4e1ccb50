-- depends: 0041_houses_ratings_backfill
-- The city of a listing's district as an adcode (models/areas.py city_code, same rule): the
-- province's XX0000 for the four municipalities, the district itself for county-level cities
-- governed by their province (XX90XX), else the prefecture's XXXX00. Stored, so the search by
-- city reads an index in the sort's order like the search by district.
ALTER TABLE houses ADD COLUMN IF NOT EXISTS city_id INT UNSIGNED AS (
  CASE WHEN area_id DIV 10000 IN (11, 12, 31, 50) THEN area_id DIV 10000 * 10000
       WHEN area_id DIV 100 MOD 100 = 90 THEN area_id
       ELSE area_id DIV 100 * 100 END) PERSISTENT;
