DROP TABLE unreadable_records;
