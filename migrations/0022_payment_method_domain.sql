-- Payment methods once in SQL: the domain payment_method (cash, knet, card,
-- prepaid) replaces the two CHECK lists of 0001 on orders.payment_method and
-- payment_collections.method. C validates against its one list
-- (PAYMENT_METHODS) before a value reaches here; `deliveryd serve` checks at
-- start that every method of that list is a value of this domain.
--
-- The views over these columns are dropped here and recreated by
-- sql/schema/ in the same migrate run (a numbered migration that ran makes
-- migrate re-apply every repeatable file). A text -> domain-over-text change
-- is binary compatible: no table rewrite, only the domain's check of each row.
CREATE DOMAIN payment_method AS text
  CHECK (VALUE IN ('cash', 'knet', 'card', 'prepaid'));

DROP VIEW IF EXISTS api_orders;
DROP VIEW IF EXISTS api_payments;

ALTER TABLE orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE orders ALTER COLUMN payment_method TYPE payment_method;
ALTER TABLE payment_collections DROP CONSTRAINT payment_collections_method_check;
ALTER TABLE payment_collections ALTER COLUMN method TYPE payment_method;
