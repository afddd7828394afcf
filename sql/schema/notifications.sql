-- Notifications: the public JSON. Repeatable file: see common.sql.

-- notifications has its own `body` column (the message text), which would
-- clash with the rendered `body`. The columns are listed explicitly and the
-- message text is exposed as body_text; `body` is the JSON, as in every
-- other api_* view. Dropped and created like the other api_* views.
DROP VIEW IF EXISTS api_notifications;
CREATE VIEW api_notifications AS
SELECT n.id,
       n.user_id,
       n.type,
       n.title,
       n.body AS body_text,
       n.data,
       n.order_id,
       n.read_at,
       n.created_at,
       json_build_object(
         'id',         n.id,
         'type',       n.type,
         'title',      n.title,
         'body',       n.body,
         'data',       n.data,
         'read_at',    api_ts(n.read_at),
         'created_at', api_ts(n.created_at)
       ) AS body
FROM notifications n;
