-- No query looks orders up by import_id: the API has no such filter, and
-- imports are never deleted (the FK's ON DELETE SET NULL is the only reader,
-- and would now scan orders if an operator deleted an import by hand).
-- Every imported order paid for an entry on insert, and again on each
-- status change (never HOT): one of the eight index inserts of a
-- batch-cancel of imported orders.
DROP INDEX orders_import_id_idx;
