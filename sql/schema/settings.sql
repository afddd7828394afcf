-- Settings: the updated_at trigger (instances notice a change through
-- max(updated_at)). Repeatable file: see common.sql.

CREATE OR REPLACE TRIGGER settings_set_updated_at BEFORE UPDATE ON settings
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
