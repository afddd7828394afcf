-- What orders.created_by holds since the import stopped filling it (it cost
-- a foreign-key check per imported row and repeated what is recorded twice
-- already).
COMMENT ON COLUMN orders.created_by IS
  'The user who created the order by hand (POST /orders). NULL for imported orders, '
  'whose uploader is imports.uploaded_by and the changed_by of their first history row, '
  'and for orders pushed by Dynamics 365.';
