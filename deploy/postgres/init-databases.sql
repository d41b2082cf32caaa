-- One database per service (ARCHITECTURE §1): each service owns its database alone and never
-- reads another's tables. Run once by the postgres image's entrypoint, as POSTGRES_USER
-- (xinfang in deploy/compose.yaml), when the data volume is empty; the databases are owned
-- by that user. The schemas come from `xinfang migrate` (alembic), not from here.
--
-- For a stricter split, give each service its own role and point its
-- XINFANG_<SERVICE>_DATABASE_URL at it, e.g.
--   CREATE ROLE xinfang_intake LOGIN PASSWORD '...';
--   ALTER DATABASE xinfang_intake OWNER TO xinfang_intake;

CREATE DATABASE xinfang_intake;
CREATE DATABASE xinfang_routing;
CREATE DATABASE xinfang_tracking;
CREATE DATABASE xinfang_evaluation;
