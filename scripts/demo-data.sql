-- Demo data loaded by scripts/run on the first run (idempotent).
INSERT INTO warehouses (code, name, address, latitude, longitude) VALUES
  ('KWT-SAL', 'Salmiya',   'Salem Al Mubarak St, Block 10, Salmiya, Kuwait',   29.3339, 48.0761),
  ('KWT-HAW', 'Hawalli',   'Tunis St, Block 6, Hawalli, Kuwait',               29.3375, 48.0285),
  ('KWT-FAR', 'Farwaniya', 'Habib Munawer St, Block 1, Farwaniya, Kuwait',     29.2770, 47.9585)
ON CONFLICT (code) DO NOTHING;
