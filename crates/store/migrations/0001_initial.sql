-- Portable SQL: the same schema runs on SQLite and PostgreSQL.
-- Amounts are BIGINT minor units; instants are BIGINT epoch milliseconds.

CREATE TABLE platform_keys (
    name TEXT PRIMARY KEY,
    private_key TEXT NOT NULL
);

CREATE TABLE merchants (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    settlement_currency TEXT,
    notify_url TEXT,
    legacy_partner_id TEXT NOT NULL UNIQUE,
    legacy_md5_key TEXT NOT NULL,
    platform_private_key TEXT NOT NULL,
    -- The contract: see backflow_domain::merchant::Contract.
    commission_bps BIGINT NOT NULL DEFAULT 0,
    commission_refund TEXT NOT NULL DEFAULT 'NONE',
    refund_window_days BIGINT,
    overdraft_minor BIGINT NOT NULL DEFAULT 0,
    card_acquirer TEXT,
    rate_limit_per_second BIGINT,
    method_overrides TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE merchant_keys (
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    key_version BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, key_version)
);

CREATE TABLE payments (
    payment_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    door TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    method_type TEXT NOT NULL,
    product_code TEXT NOT NULL,
    status TEXT NOT NULL,
    is_authorization BIGINT NOT NULL,
    captured BIGINT NOT NULL,
    capture_closed BIGINT NOT NULL,
    settlement_currency TEXT NOT NULL,
    settled BIGINT NOT NULL,
    commission BIGINT NOT NULL,
    acquirer TEXT,
    chargeback_pending BIGINT NOT NULL,
    notify_url TEXT,
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    UNIQUE (client_id, payment_request_id)
);

CREATE TABLE captures (
    capture_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    capture_request_id TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (payment_id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, capture_request_id)
);
CREATE INDEX captures_by_payment ON captures (payment_id);

CREATE TABLE refunds (
    refund_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    refund_request_id TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (payment_id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    notify_url TEXT,
    result_code TEXT,
    notify_on_final BIGINT NOT NULL,
    held_currency TEXT NOT NULL,
    held BIGINT NOT NULL,
    settled BIGINT,
    quote_base TEXT,
    quote_quote TEXT,
    quote_rate TEXT,
    quote_date TEXT,
    commission_returned BIGINT NOT NULL,
    acquirer_name TEXT,
    acquirer_merchant_id TEXT,
    acquirer_transaction_id TEXT,
    acquirer_reference_no TEXT,
    reversed_at BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (client_id, refund_request_id)
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

CREATE TABLE ledger_postings (
    posting_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ledger_legs (
    posting_id TEXT NOT NULL REFERENCES ledger_postings (posting_id),
    leg_no BIGINT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (posting_id, leg_no)
);

-- A floor of NULL means the account may go as low as it likes (scheme clearing).
CREATE TABLE ledger_balances (
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    floor BIGINT,
    PRIMARY KEY (account, currency)
);

-- Exchange rates: units of `quote` per unit of `base`, as an exact decimal string.
CREATE TABLE fx_rates (
    rate_date TEXT NOT NULL,
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    rate TEXT NOT NULL,
    PRIMARY KEY (rate_date, base, quote)
);

-- Work for later, claimed by one node at a time.
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- What the simulated channel will answer (for completions), e.g. SUCCESS or FAIL:CODE.
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    claimed_by TEXT,
    claim_expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at);

-- Sandbox error injection: scripted outcomes for a merchant's next refunds, used in order.
CREATE TABLE sandbox_scripts (
    script_id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
    -- Scripts are used in the order they were queued.
    seq BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, seq)
);
