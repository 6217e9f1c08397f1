-- Accounts without a floor (scheme clearing, the FX position, commission, funding) keep
-- no running balance from now on: their balance is the sum of their legs. Their rows were
-- changed by every merchant's payments and refunds, one transaction at a time.
DELETE FROM ledger_balances WHERE floor IS NULL;
