-- The rules of an order's life, once (docs/architecture.md, "rule -> file").
-- Every statement and the C code take them from here:
--   order_rules()           the state machine and what each status allows
--   order_action_from(a)    the statuses action a takes
--   order_action_to(a)      the status action a leads to (NULL: no change)
--   order_status_is_terminal(s)  no action leads out of s (derived)
--   order_status_is_active(s)    a driver is carrying the order
--   order_visible(...)      who may see an order
--   order_eta(text)         what a given ETA means (a bare date: end of day)
--
-- IMMUTABLE SQL functions over constants: called with a constant argument
-- they are folded when a statement is planned, so a rule costs nothing at
-- run time. Sorted before orders.sql (its views use them).
--
-- Repeatable file (docs/architecture.md, "Migrations and sql/schema").

-- action | from statuses | to status (NULL: the status does not change) | who
-- `who`: manager = admins and managers; driver = the order's driver, or a
-- manager; system = imports and integrations. Role checks themselves are the
-- route table's (src/api/routes.c); this column says whom the rule is for.
CREATE OR REPLACE FUNCTION order_rules()
RETURNS TABLE (action text, from_statuses text[], to_status text, who text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  VALUES
    ('assign',        '{pending,assigned,failed}'::text[],      'assigned',  'manager'),
    ('unassign',      '{assigned}'::text[],                     'pending',   'manager'),
    ('pickup',        '{assigned}'::text[],                     'picked_up', 'driver'),
    ('deliver',       '{picked_up}'::text[],                    'delivered', 'driver'),
    ('fail',          '{assigned,picked_up}'::text[],           'failed',    'driver'),
    ('cancel',        '{pending,assigned,failed}'::text[],      'cancelled', 'manager'),
    ('requeue',       '{failed}'::text[],                       'pending',   'manager'),
    ('return',        '{failed}'::text[],                       'returned',  'driver'),
    -- what a status allows without changing it
    ('edit',          '{pending,assigned,picked_up,failed}'::text[], NULL,   'manager'),
    ('import_update', '{pending}'::text[],                      NULL,        'system'),
    ('proof',         '{picked_up,delivered,failed}'::text[],   NULL,        'driver'),
    ('payment',       '{assigned,picked_up,delivered,failed}'::text[], NULL, 'driver'),
    ('track_driver',  '{assigned,picked_up,delivered,failed,returned}'::text[], NULL, 'customer')
$$;

CREATE OR REPLACE FUNCTION order_action_from(p_action text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT from_statuses FROM order_rules() WHERE action = p_action $$;

CREATE OR REPLACE FUNCTION order_action_to(p_action text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_status FROM order_rules() WHERE action = p_action $$;

-- Terminal: no transition leaves the status (delivered, cancelled, returned).
CREATE OR REPLACE FUNCTION order_status_is_terminal(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT NOT EXISTS (SELECT 1 FROM order_rules()
                      WHERE to_status IS NOT NULL AND p_status = ANY (from_statuses))
$$;

-- Active: a driver holds the order and has not finished it (assigned,
-- picked_up): the drivers' `active_orders`, the live map, suggestions.
CREATE OR REPLACE FUNCTION order_status_is_active(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT p_status = ANY ('{assigned,picked_up}'::text[]) $$;

-- Who may see an order: a scoped manager ($scope = their warehouse) only
-- their warehouse's, a driver ($own = their driver id) only their own;
-- NULL for either means no restriction of that kind. Not STRICT, so it is
-- inlined and the conditions reach the planner (indexes on warehouse_id,
-- driver_id).
CREATE OR REPLACE FUNCTION order_visible(o_warehouse_id bigint, o_driver_id bigint,
                                         p_scope bigint, p_own bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (p_scope IS NULL OR o_warehouse_id = p_scope)
     AND (p_own IS NULL OR o_driver_id = p_own)
$$;

-- An estimated delivery time as given, the same on every path (POST and
-- PATCH /orders, the import, the D365 webhook): a bare date (YYYY-MM-DD) is
-- the END of that business day (23:59:59 in business_timezone), so
-- sla-check does not call an order due "on the 25th" late from the first
-- minute of the 25th; a time with an offset (Z, +03:00, +03) is that
-- instant; a time without one is business-local (a manager in Kuwait, a
-- spreadsheet's date-time cell).
CREATE OR REPLACE FUNCTION order_eta(t text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN t IS NULL THEN NULL
    WHEN length(t) = 10
      THEN ((t::date)::timestamp + interval '23:59:59') AT TIME ZONE business_timezone()
    WHEN t ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN t::timestamptz
    ELSE t::timestamp AT TIME ZONE business_timezone()
  END
$$;
