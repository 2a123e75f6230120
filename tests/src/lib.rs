//! End-to-end suite lives in tests/*.rs.
