DROP TRIGGER watched_accounts_notify ON watched_accounts;
DROP FUNCTION orbitpay_watched_accounts_notify();
DROP TABLE watched_accounts;
