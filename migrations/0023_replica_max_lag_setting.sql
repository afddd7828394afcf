-- replica_max_lag_seconds: reads that tolerate lag (analytics, exports, a
-- driver's trail, /imports history) go to READ_DATABASE_URL's replica while
-- its replay is at most this far behind, else to the primary.
INSERT INTO settings (key, value) VALUES ('replica_max_lag_seconds', '5')
  ON CONFLICT (key) DO NOTHING;
