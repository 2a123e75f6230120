DROP TABLE sessions;
DROP FUNCTION orbitpay_touch_row();
DROP TYPE session_status;
