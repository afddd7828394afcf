-- Tickets for the live stream (issue 19): POST /stream/ticket hands out a
-- random token that GET /stream?ticket= consumes once within 30 s, for a
-- browser EventSource, which cannot send an Authorization header. In the
-- database, so a ticket taken from one instance works on any other behind
-- the proxy. Only the SHA-256 of the ticket is kept (as a refresh token's).
--   ticket_hash  sha256 of the ticket text
--   user_id      whom it authenticates (a deleted user's tickets go too)
--   expires_at   after this the ticket is refused (and purged later)
CREATE TABLE stream_tickets (
  ticket_hash bytea PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX stream_tickets_expires_at_idx ON stream_tickets (expires_at);
