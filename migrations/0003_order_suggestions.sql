-- The suggestions last shown for an order, so that the assignment that
-- follows can be recorded as a suggestion decision (accepted top / any /
-- none) by the assign statement itself.
CREATE TABLE order_suggestions (
  order_id    bigint PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
  driver_ids  bigint[] NOT NULL,
  shown_at    timestamptz NOT NULL DEFAULT now()
);
