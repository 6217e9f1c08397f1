-- Settlement and day reports (portable SQL, like 0001).

-- A merchant's settlement terms; a merchant without a row settles daily, T+1, with no minimum.
CREATE TABLE settlement_terms (
    client_id TEXT PRIMARY KEY REFERENCES merchants (client_id),
    -- T+N (daily) or W+N (weekly)
    cycle TEXT NOT NULL,
    -- below it, funds wait for the next batch (settlement minor units)
    minimum_minor BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One batch a merchant, currency and settlement day. It covers the merchant's
-- ledger movements created in [covers_from, covers_to); the next batch starts
-- where it ends, so funds below the minimum are carried over.
CREATE TABLE settlement_batches (
    settlement_batch_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    currency TEXT NOT NULL,
    settle_date TEXT NOT NULL,
    covers_from BIGINT NOT NULL,
    covers_to BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    -- WAITING_FUNDS until the available balance covers it, then SETTLED
    status TEXT NOT NULL,
    -- the posting that paid it out, once SETTLED
    posting_id TEXT,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    UNIQUE (client_id, currency, settle_date)
);
CREATE INDEX settlement_batches_by_end ON settlement_batches (client_id, currency, covers_to);

-- What each capture came to in the settlement currency, and its commission,
-- for its report row (captures before this migration have none).
ALTER TABLE captures ADD COLUMN settled BIGINT;
ALTER TABLE captures ADD COLUMN commission BIGINT;

-- A day report reads a merchant's transactions by the time their money moved.
CREATE INDEX payments_by_paid_at ON payments (client_id, paid_at);
CREATE INDEX captures_by_time ON captures (client_id, created_at);
CREATE INDEX refunds_by_finished_at ON refunds (client_id, finished_at);
CREATE INDEX refunds_by_reversed_at ON refunds (client_id, reversed_at) WHERE reversed_at IS NOT NULL;
