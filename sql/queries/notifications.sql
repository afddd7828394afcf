-- Notifications (api/notifications.c): the caller's own.

-- name: notification_mark_read
-- No row: not the caller's notification (or none).
-- $1 notification id
-- $2 the caller's user id
WITH u AS (UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE id = $1 AND user_id = $2 RETURNING id)
SELECT 1 FROM u;

-- name: notification_get
-- $1 notification id
SELECT body FROM api_notifications WHERE id = $1;

-- name: notification_mark_all_read
-- $1 the caller's user id
WITH u AS (UPDATE notifications SET read_at = now()
            WHERE user_id = $1 AND read_at IS NULL RETURNING 1)
SELECT json_build_object('marked', count(*)) FROM u;
