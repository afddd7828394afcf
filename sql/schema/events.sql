-- Events (the transactional outbox, table events of migration 0024): the
-- functions the writing statements use. Every change that matters outside
-- writes its event rows with one more INSERT ... SELECT in its own
-- statement or transaction (sql/queries/orders.sql, payments.sql,
-- import.sql, src/service/order_actions.c, src/api/orders.c); nothing here
-- writes by itself, and no trigger on events lives in this file.
-- Repeatable file: see common.sql. Sorts before orders.sql and
-- payments.sql: these functions use tables, common.sql and one another only.

-- A person's first name: the first word of full_name, white space being
-- ASCII, no-break, the U+2000 block, narrow no-break, medium mathematical,
-- ideographic and BOM (names pasted from spreadsheets carry them, and
-- split_part(' ') did not split on them). The one rule: customer messages
-- and the tracking page (sql/queries/track.sql) call it.
CREATE OR REPLACE FUNCTION first_name(full_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (regexp_match(full_name,
           '^[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]*([^\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+)'))[1]
$$;

-- A template of the setting customer_message_templates filled in, in one
-- pass (a value that itself looks like a placeholder stays as it is):
-- {order_number}, {driver_first_name}, {tracking_url}, {eta}; a NULL value
-- is empty text. Any other text, braces included, is kept.
CREATE OR REPLACE FUNCTION message_fill(tpl text, order_number text, driver_first_name text,
                                        tracking_url text, eta text) RETURNS text
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

-- The data of a customer.<kind> event (API.md "Customer messages"):
-- {"to", "lang", "text", "order_number", "tracking_url"}. kind is
-- out_for_delivery, delivered or delivery_failed (the keys of the setting
-- customer_message_templates), lang "ar" or "en" (the setting
-- customer_message_default_lang, handed in by the caller); o the order as
-- it is after the change; base_url PUBLIC_BASE_URL or NULL (then
-- tracking_url is null and {tracking_url} empty). {eta} is the ETA in
-- business_timezone(), "YYYY-MM-DD HH24:MI". NULL when the order has no
-- phone to send to.
CREATE OR REPLACE FUNCTION customer_message(kind text, lang text, o orders,
                                            driver_first_name text, base_url text)
RETURNS json
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
