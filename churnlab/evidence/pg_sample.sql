SELECT json_build_object(
  'ts', round(extract(epoch FROM clock_timestamp())::numeric, 3),
  'source', 'postgres',
  'client_backends', coalesce(sum(n), 0),
  'by_state', coalesce(json_object_agg(state, n), '{}'::json),
  'max_connections', current_setting('max_connections')::int)
FROM (SELECT coalesce(state, 'starting') AS state, count(*) AS n
      FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()
      GROUP BY 1) AS backends
