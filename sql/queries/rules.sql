-- Checks that C's copies of a rule agree with the database's (run by
-- `deliveryd serve` at start).

-- name: payment_methods_agree
-- $1 C's payment methods as a text[] literal ("{cash,knet,card,prepaid}")
SELECT (SELECT array_agg(v ORDER BY v) FROM unnest($1::text[]) v)
     = (SELECT array_agg(m[1] ORDER BY m[1])
          FROM pg_constraint c,
               regexp_matches(pg_get_constraintdef(c.oid), '''([^'']+)''::text', 'g') m
         WHERE c.contypid = 'payment_method'::regtype);
