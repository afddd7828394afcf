--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

--
-- Name: EXTENSION pg_trgm; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';

--
-- Name: payment_method; Type: DOMAIN; Schema: public; Owner: -
--

CREATE DOMAIN public.payment_method AS text
	CONSTRAINT payment_method_check CHECK ((VALUE = ANY (ARRAY['cash'::text, 'knet'::text, 'card'::text, 'prepaid'::text])));

--
-- Name: address_key(text, text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.address_key(p_area text, p_block text, p_street text, p_avenue text, p_building text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  -- two regular expressions over the joined text, not five (one per part):
  -- runs of white space to one space, then the spaces around each |
  SELECT CASE WHEN k <> '||||' THEN k END
    FROM (SELECT lower(btrim(regexp_replace(regexp_replace(concat_ws('|',
      coalesce(p_area, ''), coalesce(p_block, ''), coalesce(p_street, ''),
      coalesce(p_avenue, ''), coalesce(p_building, '')), '\s+', ' ', 'g'),
      ' ?\| ?', '|', 'g'))) AS k) x
$$;

--
-- Name: age_words(double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.age_words(p_secs double precision) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT CASE WHEN p_secs < 60 THEN greatest(floor(p_secs), 0)::int || ' s'
              WHEN p_secs < 3600 THEN floor(p_secs / 60)::int || ' min'
              WHEN p_secs < 172800 THEN floor(p_secs / 3600)::int || ' h'
              ELSE floor(p_secs / 86400)::int || ' days' END
$$;

--
-- Name: analytics_range(date, date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.analytics_range(p_from date, p_to date) RETURNS TABLE(f date, t date, sla integer, a timestamp with time zone, b timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  WITH s AS (SELECT business_timezone() AS tz,
                    coalesce((SELECT (value #>> '{}')::int FROM settings
                               WHERE key = 'sla_minutes'), 120) AS sla),
       d AS (SELECT coalesce(p_from, (now() AT TIME ZONE s.tz)::date) AS f,
                    coalesce(p_to, (now() AT TIME ZONE s.tz)::date) AS t, s.tz, s.sla FROM s)
  SELECT d.f, d.t, d.sla, d.f::timestamp AT TIME ZONE d.tz,
         (d.t + 1)::timestamp AT TIME ZONE d.tz
    FROM d
$$;

--
-- Name: api_ts(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_ts(t timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT to_char(t AT TIME ZONE 'UTC',
                 CASE WHEN date_trunc('second', t) = t
                      THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                      ELSE 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"' END)
$$;

--
-- Name: business_timezone(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.business_timezone() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT coalesce((SELECT value #>> '{}' FROM settings WHERE key = 'business_timezone'),
                  'Asia/Kuwait')
$$;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    order_number text NOT NULL,
    source text DEFAULT 'manual'::text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    warehouse_id bigint NOT NULL,
    driver_id bigint,
    customer_name text,
    customer_phone text,
    delivery_address text,
    area text,
    block text,
    street text,
    avenue text,
    building text,
    floor text,
    apartment text,
    paci_number text,
    delivery_latitude double precision,
    delivery_longitude double precision,
    customer_info jsonb DEFAULT '{}'::jsonb NOT NULL,
    amount numeric(12,3),
    payment_method public.payment_method,
    notes text,
    failure_reason text,
    failure_reason_code text,
    cancel_reason text,
    recipient_name text,
    delivery_notes text,
    estimated_delivery_time timestamp with time zone,
    assigned_at timestamp with time zone,
    picked_up_at timestamp with time zone,
    delivered_at timestamp with time zone,
    failed_at timestamp with time zone,
    cancelled_at timestamp with time zone,
    returned_at timestamp with time zone,
    is_archived boolean DEFAULT false NOT NULL,
    archived_at timestamp with time zone,
    tracking_token text DEFAULT (lpad(to_hex(((EXTRACT(epoch FROM clock_timestamp()) * (1000000)::numeric))::bigint), 14, '0'::text) || substr(encode((uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), 'hex'::text), 1, 50)) NOT NULL,
    import_id bigint,
    created_by bigint,
    sla_notified_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    idempotency_key text,
    idempotency_sha256 bytea,
    coordinates_source text,
    CONSTRAINT orders_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT orders_archived_at_iff_archived CHECK ((is_archived = (archived_at IS NOT NULL))),
    CONSTRAINT orders_coordinates_source_check CHECK ((coordinates_source = ANY (ARRAY['order'::text, 'learned'::text]))),
    CONSTRAINT orders_customer_info_check CHECK ((jsonb_typeof(customer_info) = 'object'::text)),
    CONSTRAINT orders_customer_phone_check CHECK ((customer_phone ~ '^\+[1-9][0-9]{7,14}$'::text)),
    CONSTRAINT orders_delivery_latitude_check CHECK (((delivery_latitude >= ('-90'::integer)::double precision) AND (delivery_latitude <= (90)::double precision))),
    CONSTRAINT orders_delivery_longitude_check CHECK (((delivery_longitude >= ('-180'::integer)::double precision) AND (delivery_longitude <= (180)::double precision))),
    CONSTRAINT orders_driver_when_assigned CHECK (((status <> ALL (ARRAY['assigned'::text, 'picked_up'::text, 'delivered'::text])) OR (driver_id IS NOT NULL))),
    CONSTRAINT orders_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 128))),
    CONSTRAINT orders_no_driver_when_pending CHECK (((status <> 'pending'::text) OR (driver_id IS NULL))),
    CONSTRAINT orders_order_number_check CHECK ((btrim(order_number) <> ''::text)),
    CONSTRAINT orders_paci_number_check CHECK ((paci_number ~ '^[0-9]{6,12}$'::text)),
    CONSTRAINT orders_source_check CHECK ((source = ANY (ARRAY['manual'::text, 'excel'::text, 'd365'::text]))),
    CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'assigned'::text, 'picked_up'::text, 'delivered'::text, 'failed'::text, 'cancelled'::text, 'returned'::text]))),
    CONSTRAINT orders_version_check CHECK ((version >= 1))
)
WITH (fillfactor='85');

--
-- Name: COLUMN orders.created_by; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.created_by IS 'The user who created the order by hand (POST /orders). NULL for imported orders, whose uploader is imports.uploaded_by and the changed_by of their first history row, and for orders pushed by Dynamics 365.';

--
-- Name: customer_message(text, text, public.orders, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.customer_message(kind text, lang text, o public.orders, driver_first_name text, base_url text) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT json_build_object(
           'to', o.customer_phone,
           'lang', l.lang,
           'text', message_fill(
             (SELECT s.value -> kind ->> l.lang FROM settings s
               WHERE s.key = 'customer_message_templates'),
             o.order_number, driver_first_name, u.url,
             to_char(o.estimated_delivery_time AT TIME ZONE business_timezone(),
                     'YYYY-MM-DD HH24:MI')),
           'order_number', o.order_number,
           'tracking_url', u.url)
    FROM (SELECT CASE WHEN lang IN ('ar', 'en') THEN lang ELSE 'ar' END AS lang) l,
         (SELECT nullif(rtrim(base_url, '/'), '') || '/t/' || o.tracking_token AS url) u
   WHERE o.customer_phone IS NOT NULL
$$;

--
-- Name: delivery_seconds(public.orders); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.delivery_seconds(o public.orders) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM o.delivered_at - o.picked_up_at))::bigint $$;

--
-- Name: digit_grams(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.digit_grams(search_text text, phone_digits text) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT coalesce(array_agg(DISTINCT substr(m[1], i, 6)::int), '{}')
    FROM regexp_matches(coalesce(search_text, '') || ' ' || coalesce(phone_digits, ''),
                        '([0-9]{6,})', 'g') AS m,
         generate_series(1, length(m[1]) - 5) AS i
$$;

--
-- Name: distance_km(double precision, double precision, double precision, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.distance_km(lat1 double precision, lng1 double precision, lat2 double precision, lng2 double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT 6371 * 2 * asin(sqrt(power(sin(radians(lat2 - lat1) / 2), 2)
         + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2)))
$$;

--
-- Name: driver_follows_user_active(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.driver_follows_user_active() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  UPDATE drivers SET is_active = (NEW.is_active AND NEW.role = 'driver')
   WHERE user_id = NEW.id AND is_active IS DISTINCT FROM (NEW.is_active AND NEW.role = 'driver');
  RETURN NULL;
END $$;

--
-- Name: driver_offline_when_inactive(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.driver_offline_when_inactive() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  UPDATE work_sessions SET ended_at = greatest(started_at, now()), end_reason = 'deactivated'
   WHERE driver_id = NEW.id AND ended_at IS NULL;
  NEW.is_online := false;
  RETURN NEW;
END $$;

--
-- Name: duration_hhmm(bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.duration_hhmm(s bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT CASE WHEN s IS NOT NULL THEN
    CASE WHEN s < 0 THEN '-' ELSE '' END
    || lpad((abs(s) / 3600)::text, greatest(2, length((abs(s) / 3600)::text)), '0')
    || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0')
  END
$$;

--
-- Name: events_to_webhook_deliveries(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.events_to_webhook_deliveries() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  last_id bigint;
BEGIN
  INSERT INTO webhook_deliveries (subscription_id, event_id, order_id)
  SELECT s.id, e.id, e.order_id
  FROM new_events e
  JOIN webhook_subscriptions s
    ON s.is_active AND webhook_event_matches(s.events, e.type)
  ORDER BY e.id, s.id
  ON CONFLICT (subscription_id, event_id) DO NOTHING;
  SELECT max(id) INTO last_id FROM new_events;
  IF last_id IS NOT NULL THEN
    PERFORM pg_notify('deliveryd_events', last_id::text);
  END IF;
  RETURN NULL;
END
$$;

--
-- Name: first_name(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.first_name(full_name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT (regexp_match(full_name,
           '^[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]*([^\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+)'))[1]
$$;

--
-- Name: import_visible(bigint, bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.import_visible(v_warehouse_id bigint, v_uploaded_by bigint, p_scope bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT p_scope IS NULL OR v_warehouse_id = p_scope
      OR EXISTS (SELECT 1 FROM users u WHERE u.id = v_uploaded_by AND u.warehouse_id = p_scope)
$$;

--
-- Name: learned_point(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.learned_point(p_phone text, p_key text, OUT lat double precision, OUT lng double precision) RETURNS record
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  WITH pts AS (SELECT c.id, c.latitude AS lat, c.longitude AS lng, c.delivered_at
      FROM customer_places c WHERE c.phone = p_phone AND c.address_key = p_key
     ORDER BY c.delivered_at DESC, c.id DESC LIMIT 5),
   n AS (SELECT count(*) AS n FROM pts),
   kept AS (SELECT x.lat, x.lng FROM pts x, n
     WHERE 2 * (SELECT count(*) FROM pts y WHERE y.id <> x.id
                AND distance_km(x.lat, x.lng, y.lat, y.lng) <= 0.5) >= n.n - 1),
   used AS (SELECT lat, lng FROM kept
     UNION ALL
     SELECT f.lat, f.lng FROM (SELECT pts.lat, pts.lng FROM pts ORDER BY delivered_at, id
       LIMIT CASE WHEN (SELECT n FROM n) = 2 THEN 1 END) f
      WHERE NOT EXISTS (SELECT 1 FROM kept))
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY used.lat),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY used.lng)
    FROM used
$$;

--
-- Name: message_fill(text, text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.message_fill(tpl text, order_number text, driver_first_name text, tracking_url text, eta text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT coalesce(string_agg(CASE r.m[1]
                               WHEN 'order_number' THEN coalesce(order_number, '')
                               WHEN 'driver_first_name' THEN coalesce(driver_first_name, '')
                               WHEN 'tracking_url' THEN coalesce(tracking_url, '')
                               WHEN 'eta' THEN coalesce(eta, '')
                               ELSE r.m[2] END, '' ORDER BY r.n), '')
    FROM regexp_matches(tpl, '\{(order_number|driver_first_name|tracking_url|eta)\}|([^{]+|\{)', 'g')
         WITH ORDINALITY AS r(m, n)
$$;

--
-- Name: order_action_from(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_action_from(p_action text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT from_statuses FROM order_rules() WHERE action = p_action $$;

--
-- Name: order_action_to(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_action_to(p_action text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_status FROM order_rules() WHERE action = p_action $$;

--
-- Name: order_body(public.orders); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_body(o public.orders) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT json_build_object(
  'id',                      o.id,
  'order_number',            o.order_number,
  'source',                  o.source,
  'status',                  o.status,
  'warehouse_id',            o.warehouse_id,
  'driver_id',               o.driver_id,
  'customer_name',           o.customer_name,
  'customer_phone',          o.customer_phone,
  'delivery_address',        o.delivery_address,
  'area',                    o.area,
  'block',                   o.block,
  'street',                  o.street,
  'avenue',                  o.avenue,
  'building',                o.building,
  'floor',                   o.floor,
  'apartment',               o.apartment,
  'paci_number',             o.paci_number,
  'delivery_latitude',       o.delivery_latitude,
  'delivery_longitude',      o.delivery_longitude,
  -- 'order' (given), 'learned' (learned_point(), where_delivered.sql) or NULL
  'coordinates_source',      o.coordinates_source,
  'customer_info',           o.customer_info,
  -- numeric(12,3)::text always prints three places: "12.500".
  'amount',                  o.amount::text,
  'payment_method',          o.payment_method,
  'notes',                   o.notes,
  'failure_reason',          o.failure_reason,
  'failure_reason_code',     o.failure_reason_code,
  'cancel_reason',           o.cancel_reason,
  'estimated_delivery_time', api_ts(o.estimated_delivery_time),
  'assigned_at',             api_ts(o.assigned_at),
  'picked_up_at',            api_ts(o.picked_up_at),
  'delivered_at',            api_ts(o.delivered_at),
  'failed_at',               api_ts(o.failed_at),
  'cancelled_at',            api_ts(o.cancelled_at),
  'returned_at',             api_ts(o.returned_at),
  'delivery_time_seconds',   delivery_seconds(o),
  -- "HH:MM"; hours keep growing past 24 (and past 99) instead of
  -- wrapping or being cut by lpad.
  'delivery_time',
    CASE WHEN delivery_seconds(o) IS NOT NULL THEN
      CASE WHEN delivery_seconds(o) < 0 THEN '-' ELSE '' END
      || lpad((abs(delivery_seconds(o)) / 3600)::text,
              greatest(2, length((abs(delivery_seconds(o)) / 3600)::text)), '0')
      || ':'
      || lpad((abs(delivery_seconds(o)) % 3600 / 60)::text, 2, '0')
    END,
  'is_archived',             o.is_archived,
  'archived_at',             api_ts(o.archived_at),
  'tracking_token',          o.tracking_token,
  'created_at',              api_ts(o.created_at),
  'updated_at',              api_ts(o.updated_at),
  'version',                 o.version
)
$$;

--
-- Name: order_eta(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_eta(t text) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $_$
  SELECT CASE
    WHEN t IS NULL THEN NULL
    WHEN length(t) = 10
      THEN ((t::date)::timestamp + interval '23:59:59') AT TIME ZONE business_timezone()
    WHEN t ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN t::timestamptz
    ELSE t::timestamp AT TIME ZONE business_timezone()
  END
$_$;

--
-- Name: order_eta_resets_sla(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_eta_resets_sla() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  NEW.sla_notified_at := NULL;
  RETURN NEW;
END $$;

--
-- Name: order_on_time(timestamp with time zone, timestamp with time zone, timestamp with time zone, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_on_time(p_delivered_at timestamp with time zone, p_eta timestamp with time zone, p_created_at timestamp with time zone, p_sla integer) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT p_delivered_at <= coalesce(p_eta, p_created_at + make_interval(mins => p_sla)) $$;

--
-- Name: order_rules(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_rules() RETURNS TABLE(action text, from_statuses text[], to_status text, who text)
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

--
-- Name: order_search_added(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_search_added() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF current_setting('deliveryd.search_backlog', true) = 'on' THEN
    INSERT INTO order_search_backlog (order_id) SELECT id FROM added;
  ELSE
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT a.id, search_text(a), phone_digits(a) FROM added a;
  END IF;
  RETURN NULL;
END
$$;

--
-- Name: order_search_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_search_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO order_search (order_id, search_text, phone_digits)
  VALUES (NEW.id, search_text(NEW), phone_digits(NEW))
  ON CONFLICT (order_id) DO UPDATE
    SET search_text = excluded.search_text, phone_digits = excluded.phone_digits;
  RETURN NULL;
END
$$;

--
-- Name: order_search_drain(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_search_drain(max_rows integer) RETURNS bigint
    LANGUAGE sql
    AS $$
  WITH b AS (
    DELETE FROM order_search_backlog
     WHERE ctid = ANY (ARRAY(SELECT ctid FROM order_search_backlog
                              LIMIT max_rows FOR UPDATE SKIP LOCKED))
    RETURNING order_id),
  o AS (
    SELECT o.id, search_text(o) AS search_text, phone_digits(o) AS phone_digits
      FROM orders o
     WHERE o.id IN (SELECT order_id FROM b)
     ORDER BY o.id FOR KEY SHARE),
  ins AS (
    INSERT INTO order_search (order_id, search_text, phone_digits)
    SELECT id, search_text, phone_digits FROM o
    ON CONFLICT (order_id) DO NOTHING)
  SELECT count(*) FROM b
$$;

--
-- Name: order_status_is_active(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_status_is_active(p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT p_status = ANY ('{assigned,picked_up}'::text[]) $$;

--
-- Name: order_status_is_terminal(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_status_is_terminal(p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT NOT EXISTS (SELECT 1 FROM order_rules()
                      WHERE to_status IS NOT NULL AND p_status = ANY (from_statuses))
$$;

--
-- Name: order_visible(bigint, bigint, bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.order_visible(o_warehouse_id bigint, o_driver_id bigint, p_scope bigint, p_own bigint) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT (p_scope IS NULL OR o_warehouse_id = p_scope)
     AND (p_own IS NULL OR o_driver_id = p_own)
$$;

--
-- Name: orders_fill_order_number(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.orders_fill_order_number() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF NEW.order_number IS NULL THEN
    NEW.order_number := 'MAN-' || lpad(NEW.id::text, greatest(6, length(NEW.id::text)), '0');
  END IF;
  RETURN NEW;
END
$$;

--
-- Name: payment_collections; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payment_collections (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    driver_id bigint,
    method public.payment_method NOT NULL,
    amount numeric(12,3) NOT NULL,
    expected_amount numeric(12,3),
    status text DEFAULT 'unpaid'::text NOT NULL,
    discrepancy boolean DEFAULT false NOT NULL,
    collected_by bigint,
    collected_at timestamp with time zone DEFAULT now() NOT NULL,
    remitted_at timestamp with time zone,
    settled_at timestamp with time zone,
    remitted_by bigint,
    settled_by bigint,
    idempotency_key text,
    CONSTRAINT payment_collections_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT payment_collections_expected_amount_check CHECK ((expected_amount >= (0)::numeric)),
    CONSTRAINT payment_collections_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 128))),
    CONSTRAINT payment_collections_status_check CHECK ((status = ANY (ARRAY['unpaid'::text, 'remitted'::text, 'settled'::text])))
);

--
-- Name: payment_body(public.payment_collections); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.payment_body(p public.payment_collections) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT json_build_object(
    'id',           p.id,
    'order_id',     p.order_id,
    'driver_id',    p.driver_id,
    'method',       p.method,
    'amount',       p.amount::text,
    'status',       p.status,
    'discrepancy',  p.discrepancy,
    'collected_at', api_ts(p.collected_at),
    'remitted_at',  api_ts(p.remitted_at),
    'settled_at',   api_ts(p.settled_at)
  )
$$;

--
-- Name: payment_visible(bigint, bigint, bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.payment_visible(p_driver_id bigint, o_warehouse_id bigint, p_scope bigint, p_own bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT (p_scope IS NULL OR o_warehouse_id = p_scope
          OR p_driver_id IN (SELECT id FROM drivers WHERE warehouse_id = p_scope))
     AND (p_own IS NULL OR p_driver_id = p_own)
$$;

--
-- Name: phone_digits(public.orders); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.phone_digits(o public.orders) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT regexp_replace(coalesce(o.customer_phone, ''), '[^0-9]', '', 'g') $$;

--
-- Name: query_time(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.query_time(t text) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
  SELECT CASE WHEN length(t) = 10
    THEN (t::date)::timestamp AT TIME ZONE business_timezone()
    ELSE t::timestamptz END
$$;

--
-- Name: refresh_token_expires_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refresh_token_expires_at() RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT now() + interval '30 days' $$;

--
-- Name: search_text(public.orders); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.search_text(o public.orders) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT lower(o.order_number
               || chr(1) || coalesce(o.customer_name, '')
               || chr(1) || coalesce(o.delivery_address, '')
               || chr(1) || coalesce(o.area, '')
               || chr(1) || coalesce(o.block, '')
               || chr(1) || coalesce(o.street, '')
               || chr(1) || coalesce(o.building, '')
               || chr(1) || coalesce(o.paci_number, ''))
$$;

--
-- Name: set_updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

--
-- Name: suggestion_reasons(boolean, boolean, double precision, double precision, bigint, text, integer, bigint, bigint, numeric, numeric); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.suggestion_reasons(p_online boolean, p_fresh boolean, p_age_secs double precision, p_km double precision, p_active bigint, p_area text, p_days integer, p_delivered bigint, p_on_time bigint, p_cash numeric, p_cash_limit numeric) RETURNS json
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT json_agg(r ORDER BY i) FROM (VALUES
    (1, CASE WHEN p_online THEN 'online' ELSE 'offline' END),
    (2, CASE WHEN p_age_secs IS NULL THEN 'no position reported'
             WHEN NOT p_fresh THEN 'position ' || age_words(p_age_secs) || ' old' END),
    (3, CASE WHEN p_km IS NULL THEN 'distance unknown'
             ELSE round(p_km::numeric, 1) || ' km away' END),
    (4, coalesce(p_active, 0) || ' active order'
        || CASE WHEN coalesce(p_active, 0) = 1 THEN '' ELSE 's' END),
    (5, CASE WHEN p_area IS NULL OR btrim(p_area) = '' THEN 'no area on the order, so no history'
             WHEN coalesce(p_delivered, 0) = 0 THEN 'no deliveries in ' || p_area || ' yet'
             ELSE 'on time ' || coalesce(p_on_time, 0) || ' of ' || p_delivered || ' in '
                  || p_area || ' (' || p_days || ' days)' END),
    (6, 'holds ' || coalesce(p_cash, 0)::numeric(12,3) || ' KWD cash'
        || CASE WHEN p_cash_limit > 0 THEN ' (limit ' || p_cash_limit::numeric(12,3) || ')'
                ELSE '' END)
  ) AS x(i, r) WHERE r IS NOT NULL
$$;

--
-- Name: suggestion_score(jsonb, boolean, boolean, double precision, bigint, bigint, bigint, numeric, numeric); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.suggestion_score(p_weights jsonb, p_online boolean, p_fresh boolean, p_km double precision, p_active bigint, p_delivered bigint, p_on_time bigint, p_cash numeric, p_cash_limit numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT round((
      coalesce((p_weights ->> 'online')::float8, 0.2)
        * CASE WHEN p_online AND p_fresh THEN 1 WHEN p_online THEN 0.5 ELSE 0 END
    + coalesce((p_weights ->> 'distance')::float8, 0.5) * coalesce(1 / (1 + p_km), 0)
    + coalesce((p_weights ->> 'load')::float8, 0.3) / (1 + coalesce(p_active, 0))
    + coalesce((p_weights ->> 'history')::float8, 0.3)
        * coalesce(p_on_time, 0)::float8 / (coalesce(p_delivered, 0) + 1)
    + coalesce((p_weights ->> 'cash')::float8, 0.1)
        * CASE WHEN p_cash_limit > 0
               THEN greatest(0, 1 - coalesce(p_cash, 0) / p_cash_limit)::float8 ELSE 1 END
  )::numeric, 4)
$$;

--
-- Name: user_deactivation_ends_sessions(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.user_deactivation_ends_sessions() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  UPDATE refresh_tokens SET revoked_at = now()
   WHERE user_id = NEW.id AND revoked_at IS NULL;
  RETURN NULL;
END $$;

--
-- Name: webhook_deliveries_claim(integer, bigint[], integer[], integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_deliveries_claim(max_rows integer, busy_subs bigint[], busy_free integer[], per_sub integer, lease_seconds integer) RETURNS TABLE(id bigint, subscription_id bigint, url text, secret text, event_id bigint, body text)
    LANGUAGE sql
    SET jit TO 'off'
    AS $$
  WITH busy AS (SELECT * FROM unnest(busy_subs, busy_free) AS b (sub, free)),
  picked AS (
    SELECT x.id
    FROM webhook_subscriptions s
    LEFT JOIN busy b ON b.sub = s.id
    CROSS JOIN LATERAL (
      SELECT d.id
      FROM webhook_deliveries d
      WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= now()
        -- the order's earliest pending event (a scalar subquery: one index
        -- probe per candidate, never a scan of the order-less backlog)
        AND (d.order_id IS NULL
             OR d.event_id = (SELECT e.event_id FROM webhook_deliveries e
                               WHERE e.subscription_id = d.subscription_id
                                 AND e.order_id = d.order_id AND e.status = 'pending'
                               ORDER BY e.event_id LIMIT 1))
      ORDER BY d.event_id
      LIMIT greatest(coalesce(b.free, per_sub), 0)
      FOR UPDATE OF d SKIP LOCKED) x
    WHERE s.is_active
    LIMIT max_rows)
  UPDATE webhook_deliveries d
     SET next_attempt_at = now() + make_interval(secs => lease_seconds)
    FROM events e, webhook_subscriptions s
   WHERE d.id = ANY (ARRAY(SELECT id FROM picked)) -- by the primary key, never a scan
     AND e.id = d.event_id AND s.id = d.subscription_id
  RETURNING d.id, d.subscription_id, s.url, s.secret, d.event_id,
            json_build_object('id', e.id, 'type', e.type, 'created_at', api_ts(e.created_at),
                              'data', e.data)::text AS body;
$$;

--
-- Name: webhook_event_matches(text[], text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_event_matches(patterns text[], event_type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
  SELECT event_type = ANY (patterns)
      OR '*' = ANY (patterns)
      OR split_part(event_type, '.', 1) || '.*' = ANY (patterns)
$$;

--
-- Name: work_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.work_sessions (
    id bigint NOT NULL,
    driver_id bigint NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    ended_at timestamp with time zone,
    end_reason text,
    CONSTRAINT work_sessions_end_after_start CHECK ((ended_at >= started_at))
);

--
-- Name: work_session_body(public.work_sessions); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.work_session_body(s public.work_sessions) RETURNS json
    LANGUAGE sql STABLE
    AS $$
  SELECT json_build_object(
           'id',               s.id,
           'started_at',       api_ts(s.started_at),
           'ended_at',         api_ts(s.ended_at),
           -- an open session counts up to now
           'duration_seconds', floor(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at))::bigint)
$$;

--
-- Name: drivers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.drivers (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    code text NOT NULL,
    phone text,
    vehicle_type text NOT NULL,
    warehouse_id bigint,
    is_active boolean DEFAULT true NOT NULL,
    is_online boolean DEFAULT false NOT NULL,
    last_latitude double precision,
    last_longitude double precision,
    last_recorded_at timestamp with time zone,
    last_seen_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT drivers_code_check CHECK ((btrim(code) <> ''::text)),
    CONSTRAINT drivers_last_latitude_check CHECK (((last_latitude >= ('-90'::integer)::double precision) AND (last_latitude <= (90)::double precision))),
    CONSTRAINT drivers_last_location_complete CHECK ((((last_recorded_at IS NULL) = (last_latitude IS NULL)) AND ((last_recorded_at IS NULL) = (last_longitude IS NULL)))),
    CONSTRAINT drivers_last_longitude_check CHECK (((last_longitude >= ('-180'::integer)::double precision) AND (last_longitude <= (180)::double precision))),
    CONSTRAINT drivers_phone_check CHECK ((phone ~ '^\+[1-9][0-9]{7,14}$'::text)),
    CONSTRAINT drivers_vehicle_type_check CHECK ((vehicle_type = ANY (ARRAY['motorcycle'::text, 'car'::text, 'van'::text])))
);

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    username text NOT NULL,
    password_hash text NOT NULL,
    full_name text,
    role text NOT NULL,
    warehouse_id bigint,
    phone text,
    email text,
    is_active boolean DEFAULT true NOT NULL,
    failed_login_count integer DEFAULT 0 NOT NULL,
    locked_until timestamp with time zone,
    last_login_at timestamp with time zone,
    password_changed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT users_email_check CHECK ((email ~ '^[^@[:space:]]+@[^@[:space:]]+$'::text)),
    CONSTRAINT users_failed_login_count_check CHECK ((failed_login_count >= 0)),
    CONSTRAINT users_phone_check CHECK ((phone ~ '^\+[1-9][0-9]{7,14}$'::text)),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['admin'::text, 'manager'::text, 'driver'::text]))),
    CONSTRAINT users_username_check CHECK ((btrim(username) <> ''::text))
);

--
-- Name: api_drivers; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_drivers AS
 SELECT d.id,
    d.user_id,
    d.code,
    d.phone,
    d.vehicle_type,
    d.warehouse_id,
    d.is_active,
    d.is_online,
    d.last_latitude,
    d.last_longitude,
    d.last_recorded_at,
    d.last_seen_at,
    d.created_at,
    d.updated_at,
    u.full_name,
    json_build_object('id', d.id, 'user_id', d.user_id, 'code', d.code, 'full_name', u.full_name, 'phone', COALESCE(d.phone, u.phone), 'vehicle_type', d.vehicle_type, 'warehouse_id', d.warehouse_id, 'is_active', d.is_active, 'is_online', d.is_online, 'last_location',
        CASE
            WHEN (d.last_recorded_at IS NOT NULL) THEN json_build_object('latitude', d.last_latitude, 'longitude', d.last_longitude, 'recorded_at', public.api_ts(d.last_recorded_at))
            ELSE NULL::json
        END) AS body
   FROM (public.drivers d
     JOIN public.users u ON ((u.id = d.user_id)));

--
-- Name: imports; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.imports (
    id bigint NOT NULL,
    file_name text,
    file_sha256 text NOT NULL,
    content_type text,
    size_bytes bigint,
    rows_total integer DEFAULT 0 NOT NULL,
    created integer DEFAULT 0 NOT NULL,
    updated integer DEFAULT 0 NOT NULL,
    skipped integer DEFAULT 0 NOT NULL,
    failed integer DEFAULT 0 NOT NULL,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    warehouse_id bigint,
    uploaded_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT imports_created_check CHECK ((created >= 0)),
    CONSTRAINT imports_errors_check CHECK ((jsonb_typeof(errors) = 'array'::text)),
    CONSTRAINT imports_failed_check CHECK ((failed >= 0)),
    CONSTRAINT imports_file_sha256_check CHECK ((file_sha256 ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT imports_rows_total_check CHECK ((rows_total >= 0)),
    CONSTRAINT imports_size_bytes_check CHECK ((size_bytes >= 0)),
    CONSTRAINT imports_skipped_check CHECK ((skipped >= 0)),
    CONSTRAINT imports_updated_check CHECK ((updated >= 0))
);

--
-- Name: api_imports; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_imports AS
 SELECT i.id,
    i.file_name,
    i.file_sha256,
    i.content_type,
    i.size_bytes,
    i.rows_total,
    i.created,
    i.updated,
    i.skipped,
    i.failed,
    i.errors,
    i.warehouse_id,
    i.uploaded_by,
    i.created_at,
    json_build_object('id', i.id, 'import_id', i.id, 'file_name', i.file_name, 'file_sha256', i.file_sha256, 'rows_total', i.rows_total, 'created', i.created, 'updated', i.updated, 'skipped', i.skipped, 'failed', i.failed, 'errors', i.errors, 'warehouse_id', i.warehouse_id, 'uploaded_by', i.uploaded_by, 'created_at', public.api_ts(i.created_at)) AS body
   FROM public.imports i;

--
-- Name: notifications; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notifications (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    type text NOT NULL,
    title text NOT NULL,
    body text,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    order_id bigint,
    read_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT notifications_data_check CHECK ((jsonb_typeof(data) = 'object'::text)),
    CONSTRAINT notifications_type_check CHECK ((type = ANY (ARRAY['order_failed'::text, 'sla_breach'::text, 'import_finished'::text])))
);

--
-- Name: api_notifications; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_notifications AS
 SELECT n.id,
    n.user_id,
    n.type,
    n.title,
    n.body AS body_text,
    n.data,
    n.order_id,
    n.read_at,
    n.created_at,
    json_build_object('id', n.id, 'type', n.type, 'title', n.title, 'body', n.body, 'data', n.data, 'read_at', public.api_ts(n.read_at), 'created_at', public.api_ts(n.created_at)) AS body
   FROM public.notifications n;

--
-- Name: api_orders; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_orders AS
 SELECT o.id,
    o.order_number,
    o.source,
    o.status,
    o.warehouse_id,
    o.driver_id,
    o.customer_name,
    o.customer_phone,
    o.delivery_address,
    o.area,
    o.block,
    o.street,
    o.avenue,
    o.building,
    o.floor,
    o.apartment,
    o.paci_number,
    o.delivery_latitude,
    o.delivery_longitude,
    o.customer_info,
    o.amount,
    o.payment_method,
    o.notes,
    o.failure_reason,
    o.failure_reason_code,
    o.cancel_reason,
    o.recipient_name,
    o.delivery_notes,
    o.estimated_delivery_time,
    o.assigned_at,
    o.picked_up_at,
    o.delivered_at,
    o.failed_at,
    o.cancelled_at,
    o.returned_at,
    o.is_archived,
    o.archived_at,
    o.tracking_token,
    o.import_id,
    o.created_by,
    o.sla_notified_at,
    o.created_at,
    o.updated_at,
    o.version,
    o.idempotency_key,
    o.idempotency_sha256,
    o.coordinates_source,
    public.delivery_seconds(o.*) AS delivery_time_seconds,
    public.order_body(o.*) AS body
   FROM public.orders o;

--
-- Name: api_payments; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_payments AS
 SELECT p.id,
    p.order_id,
    p.driver_id,
    p.method,
    p.amount,
    p.expected_amount,
    p.status,
    p.discrepancy,
    p.collected_by,
    p.collected_at,
    p.remitted_at,
    p.settled_at,
    p.remitted_by,
    p.settled_by,
    public.payment_body(p.*) AS body
   FROM public.payment_collections p;

--
-- Name: api_users; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_users AS
 SELECT u.id,
    u.username,
    u.password_hash,
    u.full_name,
    u.role,
    u.warehouse_id,
    u.phone,
    u.email,
    u.is_active,
    u.failed_login_count,
    u.locked_until,
    u.last_login_at,
    u.password_changed_at,
    u.created_at,
    u.updated_at,
    json_build_object('id', u.id, 'username', u.username, 'full_name', u.full_name, 'role', u.role, 'warehouse_id', u.warehouse_id, 'phone', u.phone, 'email', u.email, 'is_active', u.is_active, 'locked_until', public.api_ts(u.locked_until), 'last_login_at', public.api_ts(u.last_login_at), 'created_at', public.api_ts(u.created_at)) AS body
   FROM public.users u;

--
-- Name: warehouses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.warehouses (
    id bigint NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    address text,
    latitude double precision,
    longitude double precision,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT warehouses_code_check CHECK ((btrim(code) <> ''::text)),
    CONSTRAINT warehouses_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT warehouses_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision))),
    CONSTRAINT warehouses_name_check CHECK ((btrim(name) <> ''::text))
);

--
-- Name: api_warehouses; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_warehouses AS
 SELECT w.id,
    w.code,
    w.name,
    w.address,
    w.latitude,
    w.longitude,
    w.is_active,
    w.created_at,
    w.updated_at,
    json_build_object('id', w.id, 'code', w.code, 'name', w.name, 'address', w.address, 'latitude', w.latitude, 'longitude', w.longitude, 'is_active', w.is_active) AS body
   FROM public.warehouses w;

--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    type text NOT NULL,
    order_id bigint,
    warehouse_id bigint,
    data json NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT events_data_check CHECK ((json_typeof(data) = 'object'::text)),
    CONSTRAINT events_type_check CHECK ((type ~ '^[a-z_]+\.[a-z_]+$'::text))
);

--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    id bigint NOT NULL,
    subscription_id bigint NOT NULL,
    event_id bigint NOT NULL,
    order_id bigint,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_status_code integer,
    last_error text,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_deliveries_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT webhook_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'dead'::text])))
);

--
-- Name: api_webhook_deliveries; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_webhook_deliveries AS
 SELECT d.id,
    d.subscription_id,
    d.status,
    d.event_id,
    json_build_object('id', d.id, 'subscription_id', d.subscription_id, 'event_id', d.event_id, 'type', e.type, 'order_id', d.order_id, 'status', d.status, 'attempts', d.attempts, 'last_status_code', d.last_status_code, 'last_error', d.last_error, 'next_attempt_at',
        CASE
            WHEN (d.status = 'pending'::text) THEN public.api_ts(d.next_attempt_at)
            ELSE NULL::text
        END, 'delivered_at', public.api_ts(d.delivered_at), 'created_at', public.api_ts(d.created_at)) AS body
   FROM (public.webhook_deliveries d
     JOIN public.events e ON ((e.id = d.event_id)));

--
-- Name: webhook_subscriptions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_subscriptions (
    id bigint NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    description text,
    is_active boolean DEFAULT true NOT NULL,
    secret text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_subscriptions_description_check CHECK ((length(description) <= 500)),
    CONSTRAINT webhook_subscriptions_events_check CHECK (((cardinality(events) >= 1) AND (cardinality(events) <= 64))),
    CONSTRAINT webhook_subscriptions_secret_check CHECK ((secret ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT webhook_subscriptions_url_check CHECK ((length(url) <= 2048))
);

--
-- Name: api_webhook_subscriptions; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_webhook_subscriptions AS
 SELECT s.id,
    s.created_at,
    json_build_object('id', s.id, 'url', s.url, 'events', s.events, 'description', s.description, 'is_active', s.is_active, 'created_at', public.api_ts(s.created_at), 'updated_at', public.api_ts(s.updated_at)) AS body
   FROM public.webhook_subscriptions s;

--
-- Name: api_work_sessions; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.api_work_sessions AS
 SELECT s.id,
    s.driver_id,
    s.started_at,
    s.ended_at,
    s.end_reason,
    public.work_session_body(s.*) AS body
   FROM public.work_sessions s;

--
-- Name: customer_places; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customer_places (
    id bigint NOT NULL,
    phone text NOT NULL,
    address_key text NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    order_id bigint NOT NULL,
    driver_id bigint,
    delivered_at timestamp with time zone NOT NULL,
    CONSTRAINT customer_places_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT customer_places_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision)))
);

--
-- Name: customer_places_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.customer_places ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.customer_places_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: driver_locations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.driver_locations (
    id bigint NOT NULL,
    driver_id bigint NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    accuracy real,
    speed real,
    heading real,
    recorded_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT driver_locations_accuracy_check CHECK ((accuracy >= (0)::double precision)),
    CONSTRAINT driver_locations_heading_check CHECK (((heading >= (0)::double precision) AND (heading <= (360)::double precision))),
    CONSTRAINT driver_locations_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT driver_locations_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision))),
    CONSTRAINT driver_locations_speed_check CHECK ((speed >= (0)::double precision))
);

--
-- Name: driver_locations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.driver_locations ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.driver_locations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: drivers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.drivers ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.drivers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: events_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.events_id_seq OWNED BY public.events.id;

--
-- Name: files; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.files (
    id bigint NOT NULL,
    sha256 text NOT NULL,
    content_type text,
    size_bytes bigint,
    storage_path text NOT NULL,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT files_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT files_size_bytes_check CHECK ((size_bytes >= 0))
);

--
-- Name: files_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.files ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.files_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: imports_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.imports ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.imports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: notifications_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.notifications ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.notifications_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: order_search; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_search (
    order_id bigint NOT NULL,
    search_text text NOT NULL,
    phone_digits text NOT NULL
);

--
-- Name: order_search_backlog; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_search_backlog (
    order_id bigint NOT NULL
);

--
-- Name: order_status_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_status_history (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    from_status text,
    to_status text NOT NULL,
    changed_by bigint,
    driver_id bigint,
    previous_driver_id bigint,
    reason text,
    reason_code text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT order_status_history_from_status_check CHECK ((from_status = ANY (ARRAY['pending'::text, 'assigned'::text, 'picked_up'::text, 'delivered'::text, 'failed'::text, 'cancelled'::text, 'returned'::text]))),
    CONSTRAINT order_status_history_to_status_check CHECK ((to_status = ANY (ARRAY['pending'::text, 'assigned'::text, 'picked_up'::text, 'delivered'::text, 'failed'::text, 'cancelled'::text, 'returned'::text])))
);

--
-- Name: order_status_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.order_status_history ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.order_status_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: order_suggestions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_suggestions (
    order_id bigint NOT NULL,
    driver_ids bigint[] NOT NULL,
    shown_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: payment_collections_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.payment_collections ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.payment_collections_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: proofs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.proofs (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    photo_file_id bigint,
    signature_file_id bigint,
    recipient_name text,
    notes text,
    latitude double precision,
    longitude double precision,
    captured_by bigint,
    captured_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT proofs_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT proofs_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision)))
);

--
-- Name: proofs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.proofs ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.proofs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: refresh_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.refresh_tokens (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    token_hash bytea NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    replaced_by_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    user_agent text,
    ip text,
    CONSTRAINT refresh_tokens_token_hash_check CHECK ((octet_length(token_hash) = 32))
);

--
-- Name: refresh_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.refresh_tokens ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.refresh_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: settings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.settings (
    key text NOT NULL,
    value jsonb NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_by bigint
);

--
-- Name: stream_tickets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stream_tickets (
    ticket_hash bytea NOT NULL,
    user_id bigint NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: suggestion_decisions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.suggestion_decisions (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    suggested_driver_ids bigint[] NOT NULL,
    chosen_driver_id bigint NOT NULL,
    chosen_rank integer,
    decided_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT suggestion_decisions_chosen_rank_check CHECK ((chosen_rank >= 1)),
    CONSTRAINT suggestion_decisions_rank_matches CHECK ((NOT (chosen_rank IS DISTINCT FROM array_position(suggested_driver_ids, chosen_driver_id))))
);

--
-- Name: suggestion_decisions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.suggestion_decisions ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.suggestion_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.users ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: warehouses_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.warehouses ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.warehouses_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_deliveries_id_seq OWNED BY public.webhook_deliveries.id;

--
-- Name: webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_events (
    id bigint NOT NULL,
    event_id text NOT NULL,
    event_type text,
    payload jsonb,
    applied boolean DEFAULT false NOT NULL,
    detail text,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: webhook_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_events ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.webhook_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: webhook_subscriptions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_subscriptions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: webhook_subscriptions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_subscriptions_id_seq OWNED BY public.webhook_subscriptions.id;

--
-- Name: work_sessions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.work_sessions ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.work_sessions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: events id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events ALTER COLUMN id SET DEFAULT nextval('public.events_id_seq'::regclass);

--
-- Name: webhook_deliveries id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries ALTER COLUMN id SET DEFAULT nextval('public.webhook_deliveries_id_seq'::regclass);

--
-- Name: webhook_subscriptions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_subscriptions ALTER COLUMN id SET DEFAULT nextval('public.webhook_subscriptions_id_seq'::regclass);

--
-- Name: customer_places customer_places_order_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customer_places
    ADD CONSTRAINT customer_places_order_id_key UNIQUE (order_id);

--
-- Name: customer_places customer_places_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customer_places
    ADD CONSTRAINT customer_places_pkey PRIMARY KEY (id);

--
-- Name: driver_locations driver_locations_driver_recorded_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.driver_locations
    ADD CONSTRAINT driver_locations_driver_recorded_key UNIQUE (driver_id, recorded_at);

--
-- Name: driver_locations driver_locations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.driver_locations
    ADD CONSTRAINT driver_locations_pkey PRIMARY KEY (id);

--
-- Name: drivers drivers_code_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.drivers
    ADD CONSTRAINT drivers_code_key UNIQUE (code);

--
-- Name: drivers drivers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.drivers
    ADD CONSTRAINT drivers_pkey PRIMARY KEY (id);

--
-- Name: drivers drivers_user_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.drivers
    ADD CONSTRAINT drivers_user_id_key UNIQUE (user_id);

--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

--
-- Name: files files_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.files
    ADD CONSTRAINT files_pkey PRIMARY KEY (id);

--
-- Name: imports imports_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.imports
    ADD CONSTRAINT imports_pkey PRIMARY KEY (id);

--
-- Name: notifications notifications_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_pkey PRIMARY KEY (id);

--
-- Name: order_search order_search_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_search
    ADD CONSTRAINT order_search_pkey PRIMARY KEY (order_id);

--
-- Name: order_status_history order_status_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_status_history
    ADD CONSTRAINT order_status_history_pkey PRIMARY KEY (id);

--
-- Name: order_suggestions order_suggestions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_suggestions
    ADD CONSTRAINT order_suggestions_pkey PRIMARY KEY (order_id);

--
-- Name: orders orders_order_number_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_order_number_key UNIQUE (order_number);

--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

--
-- Name: orders orders_tracking_token_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_tracking_token_key UNIQUE (tracking_token);

--
-- Name: payment_collections payment_collections_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_pkey PRIMARY KEY (id);

--
-- Name: proofs proofs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proofs
    ADD CONSTRAINT proofs_pkey PRIMARY KEY (id);

--
-- Name: refresh_tokens refresh_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_pkey PRIMARY KEY (id);

--
-- Name: refresh_tokens refresh_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash);

--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);

--
-- Name: stream_tickets stream_tickets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stream_tickets
    ADD CONSTRAINT stream_tickets_pkey PRIMARY KEY (ticket_hash);

--
-- Name: suggestion_decisions suggestion_decisions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suggestion_decisions
    ADD CONSTRAINT suggestion_decisions_pkey PRIMARY KEY (id);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: warehouses warehouses_code_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.warehouses
    ADD CONSTRAINT warehouses_code_key UNIQUE (code);

--
-- Name: warehouses warehouses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.warehouses
    ADD CONSTRAINT warehouses_pkey PRIMARY KEY (id);

--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);

--
-- Name: webhook_deliveries webhook_deliveries_subscription_id_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_subscription_id_event_id_key UNIQUE (subscription_id, event_id);

--
-- Name: webhook_events webhook_events_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_event_id_key UNIQUE (event_id);

--
-- Name: webhook_events webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);

--
-- Name: webhook_subscriptions webhook_subscriptions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_subscriptions
    ADD CONSTRAINT webhook_subscriptions_pkey PRIMARY KEY (id);

--
-- Name: work_sessions work_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.work_sessions
    ADD CONSTRAINT work_sessions_pkey PRIMARY KEY (id);

--
-- Name: customer_places_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX customer_places_key_idx ON public.customer_places USING btree (phone, address_key, delivered_at DESC, id DESC);

--
-- Name: driver_locations_recorded_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX driver_locations_recorded_at_idx ON public.driver_locations USING btree (recorded_at);

--
-- Name: drivers_warehouse_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX drivers_warehouse_id_idx ON public.drivers USING btree (warehouse_id);

--
-- Name: events_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_created_at_idx ON public.events USING btree (created_at);

--
-- Name: events_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_order_idx ON public.events USING btree (order_id, id) WHERE (order_id IS NOT NULL);

--
-- Name: files_sha256_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX files_sha256_idx ON public.files USING btree (sha256);

--
-- Name: imports_file_sha256_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX imports_file_sha256_key ON public.imports USING btree (file_sha256);

--
-- Name: notifications_sla_breach_once; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX notifications_sla_breach_once ON public.notifications USING btree (user_id, order_id, ((data ->> 'due_at'::text))) WHERE (type = 'sla_breach'::text);

--
-- Name: notifications_user_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX notifications_user_created_idx ON public.notifications USING btree (user_id, created_at DESC, id DESC);

--
-- Name: notifications_user_unread_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX notifications_user_unread_idx ON public.notifications USING btree (user_id, created_at DESC, id DESC) WHERE (read_at IS NULL);

--
-- Name: order_search_digit_grams_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_search_digit_grams_idx ON public.order_search USING gin (public.digit_grams(search_text, phone_digits));

--
-- Name: order_search_phone_trgm_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_search_phone_trgm_idx ON public.order_search USING gin (phone_digits public.gin_trgm_ops);

--
-- Name: order_search_text_trgm_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_search_text_trgm_idx ON public.order_search USING gin (search_text public.gin_trgm_ops);

--
-- Name: order_status_history_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_status_history_order_idx ON public.order_status_history USING btree (order_id, id);

--
-- Name: orders_active_driver_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_active_driver_idx ON public.orders USING btree (driver_id) WHERE (status = ANY (ARRAY['assigned'::text, 'picked_up'::text]));

--
-- Name: orders_archive_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_archive_due_idx ON public.orders USING btree (status, COALESCE(delivered_at, cancelled_at, returned_at)) WHERE ((NOT is_archived) AND (status = ANY (ARRAY['delivered'::text, 'cancelled'::text, 'returned'::text])));

--
-- Name: orders_area_delivered_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_area_delivered_idx ON public.orders USING btree (lower(area), delivered_at) INCLUDE (driver_id, estimated_delivery_time, created_at, area) WHERE (status = 'delivered'::text);

--
-- Name: orders_driver_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_driver_status_idx ON public.orders USING btree (driver_id, status) WHERE (driver_id IS NOT NULL);

--
-- Name: orders_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX orders_idempotency_idx ON public.orders USING btree (created_by, idempotency_key) WHERE (idempotency_key IS NOT NULL);

--
-- Name: orders_live_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_live_created_idx ON public.orders USING btree (created_at DESC, id DESC) WHERE (NOT is_archived);

--
-- Name: orders_sla_open_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_sla_open_idx ON public.orders USING btree (created_at) WHERE (status <> ALL (ARRAY['delivered'::text, 'cancelled'::text, 'returned'::text]));

--
-- Name: orders_status_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_status_created_idx ON public.orders USING btree (status, created_at DESC);

--
-- Name: orders_warehouse_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_warehouse_created_idx ON public.orders USING btree (warehouse_id, created_at DESC);

--
-- Name: payment_collections_collected_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payment_collections_collected_at_idx ON public.payment_collections USING btree (collected_at);

--
-- Name: payment_collections_driver_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payment_collections_driver_status_idx ON public.payment_collections USING btree (driver_id, status);

--
-- Name: payment_collections_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX payment_collections_idempotency_idx ON public.payment_collections USING btree (order_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

--
-- Name: payment_collections_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payment_collections_order_idx ON public.payment_collections USING btree (order_id);

--
-- Name: proofs_order_captured_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX proofs_order_captured_idx ON public.proofs USING btree (order_id, captured_at DESC, id DESC);

--
-- Name: refresh_tokens_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refresh_tokens_user_id_idx ON public.refresh_tokens USING btree (user_id);

--
-- Name: stream_tickets_expires_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stream_tickets_expires_at_idx ON public.stream_tickets USING btree (expires_at);

--
-- Name: suggestion_decisions_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX suggestion_decisions_created_idx ON public.suggestion_decisions USING btree (created_at);

--
-- Name: suggestion_decisions_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX suggestion_decisions_order_idx ON public.suggestion_decisions USING btree (order_id);

--
-- Name: users_email_lower_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_email_lower_key ON public.users USING btree (lower(email)) WHERE (email IS NOT NULL);

--
-- Name: users_phone_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_phone_key ON public.users USING btree (phone) WHERE (phone IS NOT NULL);

--
-- Name: users_username_lower_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX users_username_lower_key ON public.users USING btree (lower(username));

--
-- Name: users_warehouse_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX users_warehouse_id_idx ON public.users USING btree (warehouse_id) WHERE (warehouse_id IS NOT NULL);

--
-- Name: warehouses_code_lower_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX warehouses_code_lower_key ON public.warehouses USING btree (lower(code));

--
-- Name: webhook_deliveries_event_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_event_idx ON public.webhook_deliveries USING btree (event_id);

--
-- Name: webhook_deliveries_list_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_list_idx ON public.webhook_deliveries USING btree (subscription_id, id);

--
-- Name: webhook_deliveries_pending_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_pending_idx ON public.webhook_deliveries USING btree (subscription_id, event_id) WHERE (status = 'pending'::text);

--
-- Name: webhook_deliveries_pending_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_pending_order_idx ON public.webhook_deliveries USING btree (subscription_id, order_id, event_id) WHERE ((status = 'pending'::text) AND (order_id IS NOT NULL));

--
-- Name: work_sessions_driver_started_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX work_sessions_driver_started_idx ON public.work_sessions USING btree (driver_id, started_at);

--
-- Name: work_sessions_one_open_per_driver; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX work_sessions_one_open_per_driver ON public.work_sessions USING btree (driver_id) WHERE (ended_at IS NULL);

--
-- Name: drivers drivers_inactive_goes_offline; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER drivers_inactive_goes_offline BEFORE UPDATE OF is_active ON public.drivers FOR EACH ROW WHEN ((old.is_active AND (NOT new.is_active))) EXECUTE FUNCTION public.driver_offline_when_inactive();

--
-- Name: drivers drivers_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER drivers_set_updated_at BEFORE UPDATE ON public.drivers FOR EACH ROW WHEN (((((((old.user_id IS DISTINCT FROM new.user_id) OR (old.code IS DISTINCT FROM new.code)) OR (old.phone IS DISTINCT FROM new.phone)) OR (old.vehicle_type IS DISTINCT FROM new.vehicle_type)) OR (old.warehouse_id IS DISTINCT FROM new.warehouse_id)) OR (old.is_active IS DISTINCT FROM new.is_active))) EXECUTE FUNCTION public.set_updated_at();

--
-- Name: events events_webhook_deliveries; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON public.events REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION public.events_to_webhook_deliveries();

--
-- Name: orders orders_eta_resets_sla; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_eta_resets_sla BEFORE UPDATE OF estimated_delivery_time ON public.orders FOR EACH ROW WHEN (((old.estimated_delivery_time IS DISTINCT FROM new.estimated_delivery_time) AND (old.sla_notified_at IS NOT NULL))) EXECUTE FUNCTION public.order_eta_resets_sla();

--
-- Name: orders orders_fill_order_number; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_fill_order_number BEFORE INSERT ON public.orders FOR EACH ROW WHEN ((new.order_number IS NULL)) EXECUTE FUNCTION public.orders_fill_order_number();

--
-- Name: orders orders_search_added; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_search_added AFTER INSERT ON public.orders REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION public.order_search_added();

--
-- Name: orders orders_search_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_search_changed AFTER UPDATE OF order_number, customer_name, customer_phone, delivery_address, area, block, street, building, paci_number ON public.orders FOR EACH ROW WHEN (((public.search_text(old.*) IS DISTINCT FROM public.search_text(new.*)) OR (public.phone_digits(old.*) IS DISTINCT FROM public.phone_digits(new.*)))) EXECUTE FUNCTION public.order_search_changed();

--
-- Name: orders orders_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_set_updated_at BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

--
-- Name: settings settings_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER settings_set_updated_at BEFORE UPDATE ON public.settings FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

--
-- Name: users users_deactivation_ends_sessions; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_deactivation_ends_sessions AFTER UPDATE OF is_active ON public.users FOR EACH ROW WHEN ((old.is_active AND (NOT new.is_active))) EXECUTE FUNCTION public.user_deactivation_ends_sessions();

--
-- Name: users users_is_active_to_driver; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_is_active_to_driver AFTER UPDATE OF is_active, role ON public.users FOR EACH ROW WHEN (((old.is_active IS DISTINCT FROM new.is_active) OR (old.role IS DISTINCT FROM new.role))) EXECUTE FUNCTION public.driver_follows_user_active();

--
-- Name: users users_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

--
-- Name: warehouses warehouses_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER warehouses_set_updated_at BEFORE UPDATE ON public.warehouses FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

--
-- Name: webhook_subscriptions webhook_subscriptions_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_subscriptions_set_updated_at BEFORE UPDATE ON public.webhook_subscriptions FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

--
-- Name: customer_places customer_places_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customer_places
    ADD CONSTRAINT customer_places_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE SET NULL;

--
-- Name: customer_places customer_places_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customer_places
    ADD CONSTRAINT customer_places_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: driver_locations driver_locations_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.driver_locations
    ADD CONSTRAINT driver_locations_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE CASCADE;

--
-- Name: drivers drivers_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.drivers
    ADD CONSTRAINT drivers_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: drivers drivers_warehouse_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.drivers
    ADD CONSTRAINT drivers_warehouse_id_fkey FOREIGN KEY (warehouse_id) REFERENCES public.warehouses(id) ON DELETE RESTRICT;

--
-- Name: files files_created_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.files
    ADD CONSTRAINT files_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: imports imports_uploaded_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.imports
    ADD CONSTRAINT imports_uploaded_by_fkey FOREIGN KEY (uploaded_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: imports imports_warehouse_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.imports
    ADD CONSTRAINT imports_warehouse_id_fkey FOREIGN KEY (warehouse_id) REFERENCES public.warehouses(id) ON DELETE RESTRICT;

--
-- Name: notifications notifications_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;

--
-- Name: notifications notifications_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: order_search order_search_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_search
    ADD CONSTRAINT order_search_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: order_status_history order_status_history_changed_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_status_history
    ADD CONSTRAINT order_status_history_changed_by_fkey FOREIGN KEY (changed_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: order_status_history order_status_history_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_status_history
    ADD CONSTRAINT order_status_history_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE RESTRICT;

--
-- Name: order_status_history order_status_history_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_status_history
    ADD CONSTRAINT order_status_history_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: order_status_history order_status_history_previous_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_status_history
    ADD CONSTRAINT order_status_history_previous_driver_id_fkey FOREIGN KEY (previous_driver_id) REFERENCES public.drivers(id) ON DELETE RESTRICT;

--
-- Name: order_suggestions order_suggestions_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_suggestions
    ADD CONSTRAINT order_suggestions_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: orders orders_created_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: orders orders_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE RESTRICT;

--
-- Name: orders orders_import_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_import_id_fkey FOREIGN KEY (import_id) REFERENCES public.imports(id) ON DELETE SET NULL;

--
-- Name: orders orders_warehouse_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_warehouse_id_fkey FOREIGN KEY (warehouse_id) REFERENCES public.warehouses(id) ON DELETE RESTRICT;

--
-- Name: payment_collections payment_collections_collected_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_collected_by_fkey FOREIGN KEY (collected_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: payment_collections payment_collections_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE RESTRICT;

--
-- Name: payment_collections payment_collections_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE RESTRICT;

--
-- Name: payment_collections payment_collections_remitted_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_remitted_by_fkey FOREIGN KEY (remitted_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: payment_collections payment_collections_settled_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_collections
    ADD CONSTRAINT payment_collections_settled_by_fkey FOREIGN KEY (settled_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: proofs proofs_captured_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proofs
    ADD CONSTRAINT proofs_captured_by_fkey FOREIGN KEY (captured_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: proofs proofs_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proofs
    ADD CONSTRAINT proofs_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: proofs proofs_photo_file_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proofs
    ADD CONSTRAINT proofs_photo_file_id_fkey FOREIGN KEY (photo_file_id) REFERENCES public.files(id) ON DELETE RESTRICT;

--
-- Name: proofs proofs_signature_file_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.proofs
    ADD CONSTRAINT proofs_signature_file_id_fkey FOREIGN KEY (signature_file_id) REFERENCES public.files(id) ON DELETE RESTRICT;

--
-- Name: refresh_tokens refresh_tokens_replaced_by_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_replaced_by_id_fkey FOREIGN KEY (replaced_by_id) REFERENCES public.refresh_tokens(id) ON DELETE SET NULL;

--
-- Name: refresh_tokens refresh_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: settings settings_updated_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_updated_by_fkey FOREIGN KEY (updated_by) REFERENCES public.users(id) ON DELETE SET NULL;

--
-- Name: stream_tickets stream_tickets_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stream_tickets
    ADD CONSTRAINT stream_tickets_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

--
-- Name: suggestion_decisions suggestion_decisions_chosen_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suggestion_decisions
    ADD CONSTRAINT suggestion_decisions_chosen_driver_id_fkey FOREIGN KEY (chosen_driver_id) REFERENCES public.drivers(id) ON DELETE RESTRICT;

--
-- Name: suggestion_decisions suggestion_decisions_decided_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suggestion_decisions
    ADD CONSTRAINT suggestion_decisions_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES public.users(id) ON DELETE RESTRICT;

--
-- Name: suggestion_decisions suggestion_decisions_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suggestion_decisions
    ADD CONSTRAINT suggestion_decisions_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;

--
-- Name: users users_warehouse_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_warehouse_id_fkey FOREIGN KEY (warehouse_id) REFERENCES public.warehouses(id) ON DELETE RESTRICT;

--
-- Name: webhook_deliveries webhook_deliveries_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(id) ON DELETE CASCADE;

--
-- Name: webhook_deliveries webhook_deliveries_subscription_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES public.webhook_subscriptions(id) ON DELETE CASCADE;

--
-- Name: work_sessions work_sessions_driver_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.work_sessions
    ADD CONSTRAINT work_sessions_driver_id_fkey FOREIGN KEY (driver_id) REFERENCES public.drivers(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--

