-- A search of six or more digits (the end of a phone number, an order or
-- PACI number) looks up whole 6-digit windows instead of trigrams.
--
-- Digits have only 1,000 trigrams, so each one is in about 1% of the
-- search texts and phone numbers: `q=102548` decoded the posting lists of
-- eight common trigrams in two GIN indexes, about 4 ms at 1 M orders, for a
-- handful of matches. A 6-digit window has a million values, so its
-- posting list holds a few rows.
--
-- digit_grams() is every 6-digit window of every run of 6+ digits in the
-- search text and the phone digits, as integers (each window is exactly six
-- digits, so 012345 and 12345 cannot be confused). A digit string of 6+
-- characters that occurs in either text lies inside one such run, so a row
-- that matches it has all of its windows: the `q` filter (order_filters.c)
-- asks for those with `@>` and keeps its LIKE as the exact test.
--
-- Building the index reads all of order_search once, and order_search
-- writes (creating an order by hand, editing its customer or address) wait
-- for it: 33 s at 1 M orders on the benchmark machine. docs/operations.md
-- says to run this in a quiet hour.
CREATE FUNCTION digit_grams(search_text text, phone_digits text) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(array_agg(DISTINCT substr(m[1], i, 6)::int), '{}')
    FROM regexp_matches(coalesce(search_text, '') || ' ' || coalesce(phone_digits, ''),
                        '([0-9]{6,})', 'g') AS m,
         generate_series(1, length(m[1]) - 5) AS i
$$;

CREATE INDEX order_search_digit_grams_idx ON order_search
  USING gin (digit_grams(search_text, phone_digits));
