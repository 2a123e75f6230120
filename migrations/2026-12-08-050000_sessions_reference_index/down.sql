DROP INDEX sessions_reference_idx;
